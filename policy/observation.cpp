#include "policy/observation.h"

namespace ctpilot::policy {

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
