// SPDX-License-Identifier: Apache-2.0
#include "policy/observation.h"

namespace ctpilot::policy {

std::string refName(const KnobRef& ref) { return std::string(kernelName(ref.knob)) + " in " + ref.netns; }

const char* actionKindName(ActionKind kind) {
  switch (kind) {
    case ActionKind::RaiseMax: return "raise-max";
    case ActionKind::ResizeBuckets: return "resize-buckets";
    case ActionKind::ShortenTimeout: return "shorten-timeout";
    case ActionKind::RelaxTimeout: return "relax-timeout";
  }
  return "unknown";
}

NoteKey noteKey(const Note& note) {
  NoteKey key{note.held, note.ref, {}};
  for (const auto& cause : note.trigger) key.causes.emplace_back(cause.code, cause.netns);
  key.causes.emplace_back(note.why.code, note.why.netns);
  return key;
}

const Cause* Plan::find(Reason reason) const {
  const auto in = [reason](const std::vector<Cause>& causes) -> const Cause* {
    for (const auto& cause : causes) {
      if (cause.code == reason) return &cause;
    }
    return nullptr;
  };
  for (const auto& action : actions) {
    if (const auto* found = in(action.because)) return found;
  }
  for (const auto& note : notes) {
    if (note.why.code == reason) return &note.why;
    if (const auto* found = in(note.trigger)) return found;
    if (const auto* found = in(note.sized)) return found;
  }
  return nullptr;
}

bool Plan::mentions(Reason reason) const { return find(reason) != nullptr; }

}  // namespace ctpilot::policy
