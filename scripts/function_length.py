#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Lists the C++ functions longer than 60 lines in controller/, policy/ and sysfs/.

A function may be longer only with its reason written beside it: a comment line
`// long: <reason>` among the comment lines directly above its first line (its template
line or signature). Exit 0 when every long function has one, 1 when one has not (or a
marker stands above a function that is no longer long), 2 on a usage error.

    scripts/function_length.py [--max N] [--list] [DIR...]

DIRs default to controller policy sysfs below the repository root. A function's length
counts every line from its first line to its closing brace. Lambdas count towards the
function they are written in. This reads C++ as text (comments, strings and preprocessor
lines removed, braces matched); it does not compile it.
"""

import argparse
import os
import re
import sys

DEFAULT_DIRS = ("controller", "policy", "sysfs")
EXTENSIONS = (".cpp", ".h")
MARKER = re.compile(r"^\s*//\s*long:\s*(\S.*)$")
SCOPE_HEAD = re.compile(r"^(?:template\s*<.*>\s*)?(?:namespace|class|struct|union)\b")
CONTROL = {"if", "for", "while", "switch", "catch", "return", "sizeof", "decltype", "alignas",
           "static_assert", "noexcept", "requires"}
ACCESS = re.compile(r"^\s*(?:public|private|protected)\s*:(?!:)")


def blank_out(text):
    """Returns text with comments, string and character literals and preprocessor lines
    replaced by spaces, line breaks kept, so that offsets and line numbers still hold."""
    out = list(text)
    i, n = 0, len(text)
    line_start = True

    def blank(a, b):
        for k in range(a, b):
            if out[k] != "\n":
                out[k] = " "

    while i < n:
        c = text[i]
        if line_start and c in " \t":
            i += 1
            continue
        if line_start and c == "#":
            j = i
            while j < n and (text[j] != "\n" or text[j - 1] == "\\"):
                j += 1
            blank(i, j)
            i = j
            continue
        line_start = c == "\n"
        if text.startswith("//", i):
            j = text.find("\n", i)
            j = n if j < 0 else j
            blank(i, j)
            i = j
        elif text.startswith("/*", i):
            j = text.find("*/", i + 2)
            j = n if j < 0 else j + 2
            blank(i, j)
            i = j
        elif c == "R" and text.startswith('R"', i) and (i == 0 or not (text[i - 1].isalnum() or text[i - 1] == "_")):
            open_paren = text.find("(", i + 2)
            delim = text[i + 2:open_paren]
            j = text.find(")" + delim + '"', open_paren)
            j = n if j < 0 else j + len(delim) + 2
            blank(i + 1, j)
            i = j
        elif c in "\"'":
            if c == "'" and i > 0 and text[i - 1].isalnum() and i + 1 < n and text[i + 1].isalnum():
                i += 1  # digit separator: 1'000'000
                continue
            j = i + 1
            while j < n and text[j] != c:
                j += 2 if text[j] == "\\" else 1
            blank(i + 1, min(j, n))
            i = j + 1
        else:
            i += 1
    return "".join(out)


def function_name(head):
    """Returns the (qualified) name before the parameter list of a function head, or None
    when the head is not a function's."""
    for m in re.finditer(r"((?:~?[A-Za-z_]\w*|operator\s*(?:\(\s*\)|[^\s(]+))(?:\s*::\s*~?[A-Za-z_]\w*)*"
                         r"(?:\s*::\s*operator\s*(?:\(\s*\)|[^\s(]+))?)\s*\(", head):
        name = re.sub(r"\s+", "", m.group(1))
        last = name.split("::")[-1]
        if last in CONTROL or last in ("__attribute__", "alignas", "decltype"):
            continue
        before = head[:m.start()]
        if "=" in before.replace("operator=", "").replace("==", "").replace("<=", "").replace(">=", ""):
            return None  # a variable initialised with a lambda or a call
        return name
    return None


def is_function_head(head):
    """Tells whether `head` (the text between the previous ; { } and this {) opens a
    function body, and returns its name."""
    text = ACCESS.sub("", head).strip()
    if not text or SCOPE_HEAD.match(text) or text.startswith(("enum", "extern", "using", "typedef")):
        return None
    if ")" not in text:
        return None
    close = text.rfind(")")
    after = text[close + 1:]
    # After the parameter list: qualifiers, a trailing return type, or nothing.
    if not re.fullmatch(r"(?:\s|const|volatile|noexcept|override|final|mutable|&|->[\w\s:<>,*&]*)*", after):
        return None
    return function_name(text)


class Function:
    def __init__(self, path, name, first_line, last_line, marker):
        self.path, self.name = path, name
        self.first_line, self.last_line, self.marker = first_line, last_line, marker

    @property
    def length(self):
        return self.last_line - self.first_line + 1


def functions_in(path, text):
    """Yields every function defined in `text` (namespace and class scope)."""
    code = blank_out(text)
    lines = text.split("\n")
    line_of = []
    for number, line in enumerate(code.split("\n"), start=1):
        line_of.extend([number] * (len(line) + 1))
    # A stack of "scope" (namespace, class: functions inside are found) and "skip" (an
    # initialiser or enum: nothing inside is a function).
    stack = []
    head_start = 0
    i, n = 0, len(code)
    while i < n:
        c = code[i]
        if c in ";}":
            if c == "}" and stack:
                stack.pop()
            head_start = i + 1
            i += 1
            continue
        if c != "{":
            i += 1
            continue
        head = code[head_start:i]
        name = is_function_head(head) if "skip" not in stack else None
        if name is None and "skip" not in stack:
            # A constructor's member initialiser with braces, `: a_{x}, b_{y} {`: keep the head.
            ctor = re.search(r"\)\s*(?:noexcept\s*)?:\s*(?:[\w:]+\s*(?:\([^()]*\)|\{[^{}]*\})\s*,\s*)*[\w:<>]+\s*$", head)
            if ctor:
                end = match_brace(code, i)
                i = end + 1
                continue
        if name is None:
            scope = SCOPE_HEAD.match(ACCESS.sub("", head).strip()) or head.strip().startswith("extern")
            stack.append("scope" if scope and "skip" not in stack else "skip")
            head_start = i + 1
            i += 1
            continue
        end = match_brace(code, i)
        first = head_start + (len(head) - len(head.lstrip()))
        first_line = line_of[first] if first < len(line_of) else line_of[i]
        # A trailing access specifier is not part of the function: start at the next line.
        stripped = ACCESS.match(head.lstrip())
        if stripped:
            rest = head.lstrip()[stripped.end():]
            first = i - len(rest) + (len(rest) - len(rest.lstrip()))
            first_line = line_of[first]
        marker = marker_above(lines, first_line)
        yield Function(path, name, first_line, line_of[min(end, len(line_of) - 1)], marker)
        i = end + 1
        head_start = i


def match_brace(code, open_index):
    depth = 0
    for j in range(open_index, len(code)):
        if code[j] == "{":
            depth += 1
        elif code[j] == "}":
            depth -= 1
            if depth == 0:
                return j
    return len(code) - 1


def marker_above(lines, first_line):
    """Returns the reason of a `// long:` marker in the comment lines directly above
    `first_line` (1-based), or None."""
    k = first_line - 2
    while k >= 0 and lines[k].strip().startswith("//"):
        m = MARKER.match(lines[k])
        if m:
            return m.group(1).strip()
        k -= 1
    return None


def source_files(root, dirs):
    for top in dirs:
        base = os.path.join(root, top)
        if os.path.isfile(base):
            yield base
            continue
        for folder, subfolders, files in os.walk(base):
            subfolders.sort()
            for name in sorted(files):
                if name.endswith(EXTENSIONS):
                    yield os.path.join(folder, name)


def main(argv):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--max", type=int, default=60, help="longest function without a reason (lines)")
    parser.add_argument("--list", action="store_true", help="also list the long functions that have a reason")
    parser.add_argument("--root", default=os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                        help="the repository root (default: this script's)")
    parser.add_argument("dirs", nargs="*", help="folders or files below the root (default: controller policy sysfs)")
    args = parser.parse_args(argv)
    problems = 0
    for path in source_files(args.root, args.dirs or DEFAULT_DIRS):
        with open(path, encoding="utf-8") as f:
            text = f.read()
        shown = os.path.relpath(path, args.root)
        for fn in functions_in(shown, text):
            if fn.length > args.max and fn.marker is None:
                problems += 1
                print(f"{shown}:{fn.first_line}: {fn.name} is {fn.length} lines (over {args.max}): split it along "
                      f"its seams, or write why it is long as '// long: <reason>' on the line above it")
            elif fn.length > args.max and args.list:
                print(f"{shown}:{fn.first_line}: {fn.name} is {fn.length} lines: long: {fn.marker}")
            elif fn.length <= args.max and fn.marker is not None:
                problems += 1
                print(f"{shown}:{fn.first_line}: {fn.name} is {fn.length} lines, not over {args.max}: "
                      f"remove its '// long:' marker")
    if problems:
        print(f"{problems} function(s) to split or explain", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
