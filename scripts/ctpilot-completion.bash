# SPDX-License-Identifier: Apache-2.0
# bash completion for ctpilot (installed as /usr/share/bash-completion/completions/ctpilot).
# Commands, options and scenario names are read from the binary's own --help, so completion
# knows exactly what this ctpilot accepts; policy files complete as *.conf paths, the files of
# record --out, simulate --trace and --csv as any path.
# shellcheck shell=bash

_ctpilot_help() {
  # $1: the ctpilot binary; $2...: a command (or nothing). The help text, or nothing.
  "$@" --help 2>/dev/null
}

_ctpilot() {
  local cur prev words cword
  if declare -F _init_completion >/dev/null; then
    _init_completion || return
  else
    cur=${COMP_WORDS[COMP_CWORD]} prev=${COMP_WORDS[COMP_CWORD - 1]} words=("${COMP_WORDS[@]}") cword=$COMP_CWORD
  fi
  local bin=${words[0]} i command=
  # The command is the first word that is neither an option nor a global option's value.
  for ((i = 1; i < cword; i++)); do
    case ${words[i]} in
      --policy | --state-dir | --root | --log-level) ((i++)) ;;
      -*) ;;
      *) command=${words[i]}; break ;;
    esac
  done

  case $prev in
    --policy)
      compopt -o filenames 2>/dev/null
      mapfile -t COMPREPLY < <(compgen -f -X '!*.conf' -- "$cur"; compgen -d -- "$cur")
      return ;;
    --state-dir | --root)
      compopt -o filenames 2>/dev/null
      mapfile -t COMPREPLY < <(compgen -d -- "$cur")
      return ;;
    --log-level)
      mapfile -t COMPREPLY < <(compgen -W 'trace debug info warn error critical off' -- "$cur")
      return ;;
    --scenario)
      local scenarios
      scenarios=$(_ctpilot_help "$bin" simulate | sed -n 's/^built-in scenarios: //p')
      compopt -o filenames 2>/dev/null
      mapfile -t COMPREPLY < <(compgen -W "$scenarios" -- "$cur"; compgen -f -X '!*.scenario' -- "$cur"; compgen -d -- "$cur")
      return ;;
    --csv | --out | --trace)
      compopt -o filenames 2>/dev/null
      mapfile -t COMPREPLY < <(compgen -f -- "$cur")
      return ;;
    --limit | --last | --to | --hold | --seed | --changes) return ;;
  esac

  if [[ -z $command ]]; then
    if [[ $cur == -* ]]; then
      mapfile -t COMPREPLY < <(compgen -W "$(_ctpilot_help "$bin" | sed -n '/^global options:/,$p' | grep -o -- '--[a-z-]*')" -- "$cur")
    else
      mapfile -t COMPREPLY < <(compgen -W "help $(_ctpilot_help "$bin" | sed -n '/^commands:/,/^$/s/^  \([a-z-]*\).*/\1/p')" -- "$cur")
    fi
    return
  fi
  if [[ $cur == -* ]]; then
    mapfile -t COMPREPLY < <(compgen -W "$(_ctpilot_help "$bin" "$command" | grep -o -- '^  \(-. \[ \)\?--[a-z-]*' | grep -o -- '--[a-z-]*')" -- "$cur")
  elif [[ $command == check-policy ]]; then
    compopt -o filenames 2>/dev/null
    mapfile -t COMPREPLY < <(compgen -f -X '!*.conf' -- "$cur"; compgen -d -- "$cur")
  elif [[ $command == simulate ]]; then
    # --trace takes several files: a word after the first one is another trace.
    compopt -o filenames 2>/dev/null
    mapfile -t COMPREPLY < <(compgen -f -- "$cur")
  elif [[ $command == help ]]; then
    mapfile -t COMPREPLY < <(compgen -W "$(_ctpilot_help "$bin" | sed -n '/^commands:/,/^$/s/^  \([a-z-]*\).*/\1/p')" -- "$cur")
  fi
}
complete -F _ctpilot ctpilot
