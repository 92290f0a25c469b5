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

}  // namespace ctpilot::policy
