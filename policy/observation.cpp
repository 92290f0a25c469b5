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

}  // namespace ctpilot::policy
