// SPDX-License-Identifier: Apache-2.0
#pragma once
// The event loop around a Controller: one io_context, a steady timer at the policy's interval,
// SIGTERM/SIGINT to stop, SIGHUP to re-read the policy. All logic stays in Controller::tick().

#include <functional>
#include <memory>
#include <string>

#include "controller/controller.h"
#include "policy/policy.h"
#include "policy/result.h"
#include "sysfs/stats.h"

namespace ctpilot::controller {

/// Runs a Controller on a timer until a signal stops it.
class Daemon {
 public:
  /// Creates a daemon for `controller`; `loadPolicy` re-reads the policy on SIGHUP (an Error
  /// keeps the old policy).
  Daemon(Controller& controller, std::function<Result<policy::Policy>()> loadPolicy);
  /// Ticks at the policy's interval until SIGTERM or SIGINT; with `once`, samples
  /// `kOnceSamples` - 1 times to warm the estimator, ticks once (acts) and returns;
  /// lastReport() tells what that tick saw.
  void run(bool once);

  /// Returns what the last tick or sample saw and did.
  const TickReport& lastReport() const { return last_; }

  /// Samples taken by run(once = true), the last of which acts.
  static constexpr int kOnceSamples = 3;

 private:
  Controller& controller_;
  TickReport last_;
  std::function<Result<policy::Policy>()> loadPolicy_;
};

}  // namespace ctpilot::controller
