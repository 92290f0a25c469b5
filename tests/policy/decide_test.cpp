// SPDX-License-Identifier: Apache-2.0
#include <doctest/doctest.h>

#include <algorithm>
#include <limits>
#include <optional>
#include <string>
#include <vector>

#include "policy/decide.h"

using namespace ctpilot::policy;
using namespace std::chrono_literals;

namespace {

constexpr std::int64_t kGiB = 1024LL * 1024 * 1024;
const TimePoint kNow = TimePoint{} + std::chrono::hours(500'000);

// Defaults, but a small ceiling, high_water 0.80 (the rows below were written for it) and
// shortening switched on: ceiling 262144, high_water 0.80, target_fill 0.50, lookahead 60s,
// margin 1024, cooldown 10s, shorten_at 0.90, factor 0.5.
// Buckets follow max with no stall bound: the presize mode and max_stall have tests of their own.
Policy testPolicy() {
  Policy policy;
  policy.max.ceiling = 262'144;
  policy.max.highWater = Ratio{0.80};
  policy.timeouts.mode = TimeoutsPolicy::Mode::Shorten;
  policy.hashsize.mode = HashsizePolicy::Mode::Follow;
  policy.hashsize.maxStall = 10s;
  return policy;
}

std::map<Knob, std::int64_t> kernelTimeouts() {
  return {{Knob::TcpTimeoutTimeWait, 120},
          {Knob::TcpTimeoutCloseWait, 60},
          {Knob::TcpTimeoutFinWait, 120},
          {Knob::UdpTimeoutStream, 120},
          {Knob::TcpTimeoutEstablished, 432'000}};
}

NetnsObservation ns(std::string name, std::int64_t count, double growth = 0, double drops = 0) {
  NetnsObservation n;
  n.netns = std::move(name);
  n.count = count;
  n.growthPerSec = growth;
  n.dropsPerSec = drops;
  n.timeouts = kernelTimeouts();
  n.baselineTimeouts = kernelTimeouts();
  return n;
}

// 16 GiB of RAM at 320 B per entry: the memory budget (13.4M) does not bind under the test ceiling.
Observation observe(std::int64_t max, std::vector<NetnsObservation> netns) {
  Observation obs;
  obs.now = kNow;
  obs.max = max;
  obs.buckets = std::max<std::int64_t>(max / 4, 1);
  obs.baselineMax = std::min<std::int64_t>(max, 65'536);
  obs.baselineBuckets = std::min<std::int64_t>(obs.buckets, 16'384);
  obs.entryBytes = 320;
  obs.memTotalBytes = 16 * kGiB;
  obs.netns = std::move(netns);
  return obs;
}

PastChange changed(Knob knob, Duration ago, std::string netns = kInitNetns) {
  return PastChange{kNow - ago, KnobRef{std::move(netns), knob}, 0, 0};
}

std::optional<Action> find(const Plan& plan, ActionKind kind) {
  for (const auto& action : plan.actions) {
    if (action.kind == kind) return action;
  }
  return std::nullopt;
}

// The cause with code `reason` among the reasons of `action`; nullptr when it has none.
const Cause* cause(const Action& action, Reason reason) {
  for (const auto& c : action.because) {
    if (c.code == reason) return &c;
  }
  return nullptr;
}

// The first note held back for `why`; nullptr when none.
const Note* heldBy(const Plan& plan, Reason why) {
  for (const auto& note : plan.notes) {
    if (note.why.code == why) return &note;
  }
  return nullptr;
}

// The value of `fact` in `c`; NaN (equal to nothing) when `c` is null or lacks it.
double fact(const Cause* c, Fact f) {
  return c ? c->get(f).value_or(std::numeric_limits<double>::quiet_NaN()) : std::numeric_limits<double>::quiet_NaN();
}

std::string allNotes(const Plan& plan) {
  std::string out;
  for (const auto& note : plan.notes) out += noteText(note) + "\n";
  return out;
}

}  // namespace

TEST_CASE("decide raises nf_conntrack_max when the fill reaches high_water, sized back to target_fill") {
  struct Row {
    std::int64_t count;
    std::int64_t max;
    std::optional<std::int64_t> to;  // nullopt: no raise
  };
  const Row rows[] = {
      {52'429, 65'536, 104'858},       // fill 0.80002: ceil(52429 / 0.5)
      {52'428, 65'536, std::nullopt},  // fill 0.79999: just under high_water
      {59'640, 65'536, 119'280},       // fill 0.91
      {65'536, 65'536, 131'072},       // full
      {1'000, 65'536, std::nullopt},
  };
  for (const auto& row : rows) {
    CAPTURE(row.count);
    CAPTURE(row.max);
    const auto plan = decide(testPolicy(), observe(row.max, {ns("init", row.count)}), {});
    const auto raise = find(plan, ActionKind::RaiseMax);
    REQUIRE(raise.has_value() == row.to.has_value());
    if (!raise) continue;
    CHECK(raise->ref == KnobRef{kInitNetns, Knob::ConntrackMax});
    CHECK(raise->from == row.max);
    CHECK(raise->to == *row.to);
  }
}

TEST_CASE("decide raises nf_conntrack_max now when growth will reach high_water within lookahead") {
  struct Row {
    double growth;
    std::optional<std::int64_t> to;
  };
  // count 40000 of 65536; high_water 0.80 is 52428.8 entries; lookahead 60s.
  const Row rows[] = {
      {500, 140'000},                             // 40000 + 30000 = 70000 predicted: ceil(70000 / 0.5)
      {210, 105'200},                             // 40000 + 12600 = 52600 >= 52428.8
      {200, std::nullopt},                        // 40000 + 12000 = 52000 < 52428.8
      {0, std::nullopt},   {-500, std::nullopt},  // shrinking tables are no reason to raise
  };
  for (const auto& row : rows) {
    CAPTURE(row.growth);
    const auto plan = decide(testPolicy(), observe(65'536, {ns("init", 40'000, row.growth)}), {});
    const auto raise = find(plan, ActionKind::RaiseMax);
    REQUIRE(raise.has_value() == row.to.has_value());
    if (!raise) continue;
    CHECK(raise->to == *row.to);
    CHECK(raise->because.front().code == Reason::Lookahead);
    CHECK(fact(cause(*raise, Reason::Lookahead), Fact::Lookahead) == 60);
  }
}

TEST_CASE("the fullest netns binds because nf_conntrack_max is global but counted per netns") {
  const auto obs = observe(65'536, {ns("init", 1'000), ns("gw", 59'640, 850), ns("lab", 30'000)});
  const auto plan = decide(testPolicy(), obs, {});
  const auto raise = find(plan, ActionKind::RaiseMax);
  REQUIRE(raise.has_value());
  CHECK(raise->ref.netns == kInitNetns);  // global knobs are written from the initial netns
  CHECK(raise->to == 221'280);            // ceil((59640 + 850 * 60) / 0.5)
  const Cause* trigger = cause(*raise, Reason::HighWater);
  REQUIRE(trigger != nullptr);
  CHECK(trigger->netns == "gw");
  CHECK(fact(trigger, Fact::Fill) == doctest::Approx(59'640.0 / 65'536));
  CHECK(fact(trigger, Fact::HighWater) == doctest::Approx(0.80));
  CHECK(fact(trigger, Fact::Count) == 59'640);
  CHECK(fact(trigger, Fact::Max) == 65'536);
  CHECK(fact(trigger, Fact::Growth) == 850);
}

TEST_CASE("drops raise nf_conntrack_max at once, inside the cooldown but not past the change window") {
  const auto policy = testPolicy();
  History recent;
  recent.changes = {changed(Knob::ConntrackMax, 2s)};
  History busy;
  for (int i = 0; i < policy.controller.maxChanges; ++i) {
    busy.changes.push_back(changed(Knob::ConntrackMax, 60s * i + 2s));
  }

  SUBCASE("drops bypass the cooldown") {
    const auto plan = decide(policy, observe(65'536, {ns("gw", 65'536, 0, /*drops=*/12)}), recent);
    const auto raise = find(plan, ActionKind::RaiseMax);
    REQUIRE(raise.has_value());
    CHECK(raise->to == 131'072);
    CHECK(raise->because.front().code == Reason::Drops);
    CHECK(raise->because.front().netns == "gw");
    CHECK(fact(&raise->because.front(), Fact::Drops) == 12);
  }
  SUBCASE("without drops the same fill waits for the cooldown") {
    const auto plan = decide(policy, observe(65'536, {ns("gw", 65'536)}), recent);
    CHECK_FALSE(find(plan, ActionKind::RaiseMax).has_value());
    const Note* held = heldBy(plan, Reason::Cooldown);
    REQUIRE(held != nullptr);
    CHECK(held->held == ActionKind::RaiseMax);
    CHECK(fact(&held->why, Fact::Cooldown) == 10);
    CHECK(fact(&held->why, Fact::Elapsed) == 2);
  }
  SUBCASE("drops do not bypass the change window") {
    const auto plan = decide(policy, observe(65'536, {ns("gw", 65'536, 0, /*drops=*/12)}), busy);
    CHECK_FALSE(find(plan, ActionKind::RaiseMax).has_value());
    CHECK(heldBy(plan, Reason::OscillationGuard) != nullptr);
  }
  SUBCASE("drops with a nearly empty table do not lower or keep max: no action, a note") {
    const auto plan = decide(policy, observe(65'536, {ns("gw", 100, 0, /*drops=*/3)}), {});
    CHECK(plan.actions.empty());
    const Note* held = heldBy(plan, Reason::AlreadyCovers);
    REQUIRE(held != nullptr);
    CHECK(fact(&held->why, Fact::Max) == 65'536);
  }
}

TEST_CASE("a raise never goes above the effective ceiling, and at the ceiling there is only a note") {
  struct Row {
    std::int64_t count;
    std::int64_t max;
    std::optional<std::int64_t> to;
  };
  const Row rows[] = {
      {200'000, 210'000, 262'144},       // wants 400000, clamped to the ceiling
      {250'000, 262'144, std::nullopt},  // already at the ceiling
  };
  for (const auto& row : rows) {
    CAPTURE(row.count);
    const auto plan = decide(testPolicy(), observe(row.max, {ns("init", row.count)}), {});
    const auto raise = find(plan, ActionKind::RaiseMax);
    REQUIRE(raise.has_value() == row.to.has_value());
    if (raise) {
      CHECK(raise->to == *row.to);
      CHECK(fact(cause(*raise, Reason::CeilingClamp), Fact::Ceiling) == 262'144);
    } else {
      const Note* held = heldBy(plan, Reason::AtCeiling);
      REQUIRE(held != nullptr);
      CHECK(fact(&held->why, Fact::Max) == 262'144);
      CHECK(fact(&held->why, Fact::Ceiling) == 262'144);
      CHECK(fact(&held->why, Fact::PolicyCeiling) == 262'144);
      CHECK(fact(&held->why, Fact::MemoryBudget) == doctest::Approx(0.25));
      CHECK(fact(&held->why, Fact::MemTotal) == static_cast<double>(16 * kGiB));
      CHECK(fact(&held->why, Fact::EntryBytes) == 320);
    }
  }
}

TEST_CASE("effectiveCeiling is the smaller of ceiling and memory budget, never below the baseline") {
  struct Row {
    const char* what;
    std::int64_t ceiling;
    double budget;
    std::int64_t memTotal;
    std::int64_t entryBytes;
    std::int64_t baseline;
    std::int64_t expected;
  };
  const Row rows[] = {
      {"ceiling binds", 262'144, 0.25, 16 * kGiB, 320, 65'536, 262'144},
      {"memory budget binds", 4 * 1024 * 1024, 0.25, 1 * kGiB, 320, 65'536, 838'860},  // 256 MiB / 320 B
      {"larger entries hold fewer", 4 * 1024 * 1024, 0.25, 1 * kGiB, 512, 65'536, 524'288},
      {"baseline above both wins", 262'144, 0.25, 1 * kGiB, 320, 1'048'576, 1'048'576},
      {"unknown memory falls to the baseline", 4 * 1024 * 1024, 0.25, 0, 320, 65'536, 65'536},
      {"unknown entry size falls to the baseline", 4 * 1024 * 1024, 0.25, 16 * kGiB, 0, 65'536, 65'536},
  };
  for (const auto& row : rows) {
    CAPTURE(row.what);
    Policy policy = testPolicy();
    policy.max.ceiling = row.ceiling;
    policy.max.memoryBudget = Ratio{row.budget};
    Observation obs = observe(65'536, {ns("init", 0)});
    obs.memTotalBytes = row.memTotal;
    obs.entryBytes = row.entryBytes;
    obs.baselineMax = row.baseline;
    CHECK(effectiveCeiling(policy, obs) == row.expected);
  }
}

TEST_CASE("the memory budget caps a raise even when the configured ceiling is higher") {
  Policy policy = testPolicy();
  policy.max.ceiling = 4 * 1024 * 1024;
  Observation obs = observe(600'000, {ns("init", 590'000)});
  obs.memTotalBytes = 1 * kGiB;
  const auto plan = decide(policy, obs, {});
  const auto raise = find(plan, ActionKind::RaiseMax);
  REQUIRE(raise.has_value());
  CHECK(raise->to == 838'860);
  const Cause* clamp = cause(*raise, Reason::CeilingClamp);
  CHECK(fact(clamp, Fact::Ceiling) == 838'860);
  CHECK(fact(clamp, Fact::MemoryBudget) == doctest::Approx(0.25));
  CHECK(fact(clamp, Fact::MemTotal) == static_cast<double>(kGiB));
  CHECK(fact(clamp, Fact::EntryBytes) == 320);
}

TEST_CASE("a raise never goes below count + margin, the baseline or the current max") {
  SUBCASE("count + margin binds when target_fill sizing is smaller") {
    Observation obs = observe(1'200, {ns("init", 1'000)});  // fill 0.83; 1000 / 0.5 = 2000 < 1000 + 1024
    obs.baselineMax = 1'024;
    const auto raise = find(decide(testPolicy(), obs, {}), ActionKind::RaiseMax);
    REQUIRE(raise.has_value());
    CHECK(raise->to == 2'024);
    const Cause* rule = cause(*raise, Reason::CountMargin);
    CHECK(fact(rule, Fact::Count) == 1'000);
    CHECK(fact(rule, Fact::Margin) == 1'024);
  }
  SUBCASE("the baseline binds when max was below it") {
    Observation obs = observe(1'000, {ns("init", 900)});
    obs.baselineMax = 65'536;
    const auto raise = find(decide(testPolicy(), obs, {}), ActionKind::RaiseMax);
    REQUIRE(raise.has_value());
    CHECK(raise->to == 65'536);
  }
  SUBCASE("a ceiling below count + margin blocks the raise instead of setting max that low") {
    Policy policy = testPolicy();
    policy.max.ceiling = 100'500;
    Observation obs = observe(100'000, {ns("init", 99'800)});
    obs.baselineMax = 65'536;
    const auto plan = decide(policy, obs, {});
    CHECK_FALSE(find(plan, ActionKind::RaiseMax).has_value());
    const Note* held = heldBy(plan, Reason::CeilingBelowCount);
    REQUIRE(held != nullptr);
    CHECK(fact(&held->why, Fact::Ceiling) == 100'500);
    CHECK(fact(&held->why, Fact::Count) == 99'800);
    CHECK(fact(&held->why, Fact::Margin) == 1'024);
  }
}

TEST_CASE("a raise never goes above min(ceiling, memory budget), whatever the baseline says") {
  // A baseline comes from the journal (or a checkpoint naming its lines): a damaged or forged one
  // of 5,000,000 under a ceiling of 1M must not make ctpilot plan a raise past the ceiling.
  Policy policy = testPolicy();
  policy.max.ceiling = 1'000'000;
  SUBCASE("below the ceiling: raised to the ceiling at most") {
    Observation obs = observe(600'000, {ns("init", 590'000, 5'000)});
    obs.baselineMax = 5'000'000;
    const auto raise = find(decide(policy, obs, {}), ActionKind::RaiseMax);
    REQUIRE(raise.has_value());
    CHECK(raise->to == 1'000'000);
    CHECK(raise->because.front().code != Reason::BaselineAboveCap);
    CHECK(std::any_of(raise->because.begin(), raise->because.end(),
                      [](const Cause& c) { return c.code == Reason::BaselineAboveCap; }));
  }
  SUBCASE("at the ceiling: no raise") {
    Observation obs = observe(1'000'000, {ns("init", 990'000, 5'000)});
    obs.baselineMax = 5'000'000;
    const auto plan = decide(policy, obs, {});
    CHECK_FALSE(find(plan, ActionKind::RaiseMax).has_value());
    const Note* held = heldBy(plan, Reason::BaselineAboveCap);
    REQUIRE(held != nullptr);
    CHECK(fact(&held->why, Fact::Cap) == 1'000'000);
    CHECK(fact(&held->why, Fact::Baseline) == 5'000'000);
    CHECK(noteText(*held) ==
          "not raising nf_conntrack_max (fill 0.99 >= high_water 0.80 in init (count 990000, max 1000000, growth "
          "5000/s)): min(ceiling, memory budget) 1000000 (ceiling 1000000, memory budget 25% of 16.0 GiB / 320 B, "
          "baseline "
          "5000000), below the baseline 5000000");
  }
  SUBCASE("the memory budget binds below the ceiling") {
    Observation obs = observe(600'000, {ns("init", 590'000, 5'000)});
    obs.baselineMax = 5'000'000;
    obs.memTotalBytes = 1 * kGiB;  // 838,860 entries at 25%
    const auto raise = find(decide(policy, obs, {}), ActionKind::RaiseMax);
    REQUIRE(raise.has_value());
    CHECK(raise->to <= 838'860);
  }
}

TEST_CASE("max.enabled = false never raises nf_conntrack_max and says so") {
  Policy policy = testPolicy();
  policy.max.enabled = false;
  const auto plan = decide(policy, observe(65'536, {ns("init", 65'000, 100, 5)}), {});
  CHECK_FALSE(find(plan, ActionKind::RaiseMax).has_value());
  const Note* held = heldBy(plan, Reason::MaxDisabled);
  REQUIRE(held != nullptr);
  CHECK(held->held == ActionKind::RaiseMax);
}

TEST_CASE("holds, external changes and unwritable knobs are left alone with a note") {
  struct Row {
    const char* what;
    std::vector<Hold> holds;
    bool external;
    bool unwritable;
    bool raises;
    Reason why;
    double remaining;  // seconds, for a hold
  };
  const KnobRef maxRef{kInitNetns, Knob::ConntrackMax};
  const KnobRef bucketsRef{kInitNetns, Knob::Buckets};
  const Row rows[] = {
      {"a hold on every knob", {Hold{kNow + 5min, std::nullopt}}, false, false, false, Reason::Hold, 300},
      {"a hold on nf_conntrack_max", {Hold{kNow + 90s, maxRef}}, false, false, false, Reason::Hold, 90},
      {"an expired hold", {Hold{kNow, std::nullopt}}, false, false, true, Reason::Hold, 0},
      {"a hold on another knob", {Hold{kNow + 5min, bucketsRef}}, false, false, true, Reason::Hold, 0},
      {"an external change", {}, true, false, false, Reason::External, 0},
      {"a read-only knob", {}, false, true, false, Reason::Unwritable, 0},
  };
  for (const auto& row : rows) {
    CAPTURE(row.what);
    History history;
    history.holds = row.holds;
    if (row.external) history.external.insert(maxRef);
    Observation obs = observe(65'536, {ns("init", 60'000)});
    if (row.unwritable) obs.unwritable.insert(maxRef);
    const auto plan = decide(testPolicy(), obs, history);
    CHECK(find(plan, ActionKind::RaiseMax).has_value() == row.raises);
    if (row.raises) continue;
    const Note* held = heldBy(plan, row.why);
    REQUIRE_MESSAGE(held != nullptr, allNotes(plan));
    CHECK(held->ref == maxRef);
    if (row.why == Reason::Hold) CHECK(fact(&held->why, Fact::Remaining) == row.remaining);
  }
}

TEST_CASE("the cooldown of a knob is measured from its own last change") {
  struct Row {
    Knob knob;
    Duration ago;
    bool raises;
  };
  const Row rows[] = {
      {Knob::ConntrackMax, 9s, false},
      {Knob::ConntrackMax, 9999ms, false},
      {Knob::ConntrackMax, 10s, true},
      {Knob::Buckets, 1s, true},  // another knob's change does not count
  };
  for (const auto& row : rows) {
    CAPTURE(kernelName(row.knob));
    CAPTURE(row.ago.count());
    History history;
    history.changes = {changed(row.knob, row.ago)};
    const auto plan = decide(testPolicy(), observe(65'536, {ns("init", 60'000)}), history);
    CHECK(find(plan, ActionKind::RaiseMax).has_value() == row.raises);
  }
}

TEST_CASE("the change window allows at most max_changes changes of one knob") {
  struct Row {
    int changes;
    Duration oldest;  // the others are spread between this and now - 1 min
    bool raises;
  };
  const Row rows[] = {
      {5, 9min, true},
      {6, 9min, false},
      {6, 10min, true},  // the oldest has just left the 10 min window
      {6, 11min, true},
  };
  for (const auto& row : rows) {
    CAPTURE(row.changes);
    CAPTURE(row.oldest.count());
    History history;
    history.changes.push_back(changed(Knob::ConntrackMax, row.oldest));
    for (int i = 1; i < row.changes; ++i) history.changes.push_back(changed(Knob::ConntrackMax, 60s * i));
    const auto plan = decide(testPolicy(), observe(65'536, {ns("init", 60'000)}), history);
    CHECK(find(plan, ActionKind::RaiseMax).has_value() == row.raises);
    if (row.raises) continue;
    const Note* held = heldBy(plan, Reason::OscillationGuard);
    REQUIRE(held != nullptr);
    CHECK(fact(&held->why, Fact::Changes) == 6);
    CHECK(fact(&held->why, Fact::ChangeWindow) == 600);
    CHECK(fact(&held->why, Fact::MaxChanges) == 6);
  }
}

TEST_CASE("buckets follow max once max / buckets drifts past twice entries_per_bucket") {
  struct Row {
    const char* what;
    std::int64_t max;
    std::int64_t count;
    std::int64_t buckets;
    std::optional<std::int64_t> to;
  };
  const Row rows[] = {
      {"ratio 4 is on target", 65'536, 1'000, 16'384, std::nullopt},
      {"ratio 8 is inside the hysteresis", 131'072, 1'000, 16'384, std::nullopt},
      {"ratio above 8 resizes to max / 4", 140'000, 1'000, 16'384, 35'328},  // 35000 rounded up to 512
      {"one raise of max stays inside the hysteresis", 65'536, 59'640, 16'384, std::nullopt},  // max -> 119280: 7.3
  };
  for (const auto& row : rows) {
    CAPTURE(row.what);
    Observation obs = observe(row.max, {ns("init", row.count)});
    obs.buckets = row.buckets;
    obs.baselineBuckets = 16'384;
    const auto plan = decide(testPolicy(), obs, {});
    const auto resize = find(plan, ActionKind::ResizeBuckets);
    const auto raise = find(plan, ActionKind::RaiseMax);
    if (raise) CHECK(raise->to == 119'280);
    REQUIRE(resize.has_value() == row.to.has_value());
    if (!resize) continue;
    CHECK(resize->ref == KnobRef{kInitNetns, Knob::Buckets});
    CHECK(resize->from == row.buckets);
    CHECK(resize->to == *row.to);
  }
}

TEST_CASE("a raise of max large enough to drift the buckets resizes them in the same plan, after max") {
  Observation obs = observe(65'536, {ns("init", 65'000, 1'000)});  // wants ceil(125000 / 0.5) = 250000
  obs.buckets = 16'384;
  const auto plan = decide(testPolicy(), obs, {});
  REQUIRE(plan.actions.size() == 2);
  CHECK(plan.actions[0].kind == ActionKind::RaiseMax);
  CHECK(plan.actions[0].to == 250'000);
  CHECK(plan.actions[1].kind == ActionKind::ResizeBuckets);
  CHECK(plan.actions[1].to == 62'976);  // ceil(250000 / 4) = 62500, rounded up to 512
}

TEST_CASE("chaintoolong or insert_failed ask for at least double the buckets even when max is fine") {
  struct Row {
    double chainTooLong;
    double insertFailed;
    std::optional<std::int64_t> to;
  };
  const Row rows[] = {{5, 0, 32'768}, {0, 2, 32'768}, {0, 0, std::nullopt}};
  for (const auto& row : rows) {
    CAPTURE(row.chainTooLong);
    CAPTURE(row.insertFailed);
    auto gw = ns("gw", 1'000);
    gw.chainTooLongPerSec = row.chainTooLong;
    gw.insertFailedPerSec = row.insertFailed;
    Observation obs = observe(65'536, {ns("init", 10), gw});
    const auto plan = decide(testPolicy(), obs, {});
    CHECK_FALSE(find(plan, ActionKind::RaiseMax).has_value());
    const auto resize = find(plan, ActionKind::ResizeBuckets);
    REQUIRE(resize.has_value() == row.to.has_value());
    if (!resize) continue;
    CHECK(resize->to == *row.to);
    const Cause* trigger = cause(*resize, Reason::Chains);
    REQUIRE(trigger != nullptr);
    CHECK(trigger->netns == "gw");
    CHECK(fact(trigger, Fact::ChainTooLong) == row.chainTooLong);
    CHECK(fact(trigger, Fact::InsertFailed) == row.insertFailed);
  }
}

TEST_CASE("buckets never shrink, never go below the baseline and never above one per entry of max") {
  SUBCASE("more buckets than max needs is left as it is") {
    Observation obs = observe(65'536, {ns("init", 1'000)});
    obs.buckets = 262'144;
    obs.baselineBuckets = 262'144;
    CHECK(decide(testPolicy(), obs, {}).actions.empty());
  }
  SUBCASE("a resize below the baseline goes to the baseline") {
    auto gw = ns("init", 1'000);
    gw.chainTooLongPerSec = 1;
    Observation obs = observe(65'536, {gw});
    obs.buckets = 8'192;
    obs.baselineBuckets = 65'536;
    const auto resize = find(decide(testPolicy(), obs, {}), ActionKind::ResizeBuckets);
    REQUIRE(resize.has_value());
    CHECK(resize->to == 65'536);
  }
  SUBCASE("chaintoolong with one bucket per entry already gives a note, not a resize") {
    auto gw = ns("init", 1'000);
    gw.chainTooLongPerSec = 1;
    Observation obs = observe(65'536, {gw});
    obs.buckets = 65'536;
    obs.baselineBuckets = 16'384;
    const auto plan = decide(testPolicy(), obs, {});
    CHECK_FALSE(find(plan, ActionKind::ResizeBuckets).has_value());
    const Note* held = heldBy(plan, Reason::BucketsAlready);
    REQUIRE(held != nullptr);
    CHECK(fact(&held->why, Fact::Buckets) == 65'536);
  }
}

TEST_CASE("buckets are resized at most once per min_interval") {
  struct Row {
    Duration ago;
    bool resizes;
  };
  const Row rows[] = {{9min, false}, {10min, true}, {1h, true}};
  for (const auto& row : rows) {
    CAPTURE(row.ago.count());
    Observation obs = observe(140'000, {ns("init", 1'000)});
    obs.buckets = 16'384;
    History history;
    history.changes = {changed(Knob::Buckets, row.ago)};
    const auto plan = decide(testPolicy(), obs, history);
    CHECK(find(plan, ActionKind::ResizeBuckets).has_value() == row.resizes);
    if (row.resizes) continue;
    const Note* held = heldBy(plan, Reason::Cooldown);
    REQUIRE(held != nullptr);
    CHECK(held->held == ActionKind::ResizeBuckets);
    CHECK(fact(&held->why, Fact::Cooldown) == 600);
  }
}

TEST_CASE("hashsize mode fixed never resizes buckets") {
  Policy policy = testPolicy();
  policy.hashsize.mode = HashsizePolicy::Mode::Fixed;
  auto gw = ns("init", 1'000);
  gw.chainTooLongPerSec = 10;
  Observation obs = observe(140'000, {gw});
  obs.buckets = 1'024;
  const auto plan = decide(policy, obs, {});
  CHECK_FALSE(find(plan, ActionKind::ResizeBuckets).has_value());
  const Note* held = heldBy(plan, Reason::HashsizeFixed);
  REQUIRE(held != nullptr);
  CHECK(held->held == ActionKind::ResizeBuckets);
  CHECK(fact(&held->why, Fact::ChainTooLong) == 10);
}

TEST_CASE("buckets under a hold, changed by someone else or not writable are left alone") {
  const KnobRef ref{kInitNetns, Knob::Buckets};
  for (int which = 0; which < 3; ++which) {
    CAPTURE(which);
    Observation obs = observe(140'000, {ns("init", 1'000)});
    obs.buckets = 16'384;
    History history;
    if (which == 0) history.holds.push_back(Hold{kNow + 1min, ref});
    if (which == 1) history.external.insert(ref);
    if (which == 2) obs.unwritable.insert(ref);
    const auto plan = decide(testPolicy(), obs, history);
    CHECK_FALSE(find(plan, ActionKind::ResizeBuckets).has_value());
    const Reason why[] = {Reason::Hold, Reason::External, Reason::Unwritable};
    const Note* held = heldBy(plan, why[which]);
    REQUIRE(held != nullptr);
    CHECK(held->held == ActionKind::ResizeBuckets);
    CHECK(held->ref == ref);
  }
}

TEST_CASE("timeouts are shortened only when nf_conntrack_max cannot be raised further") {
  struct Row {
    const char* what;
    std::int64_t max;
    std::int64_t count;
    double drops;
    bool enabled;
    bool unwritable;
    bool shortens;
  };
  const Row rows[] = {
      {"at the ceiling and above shorten_at", 262'144, 240'000, 0, true, false, true},
      {"at the ceiling but under shorten_at", 262'144, 230'000, 0, true, false, false},  // fill 0.877
      {"at the ceiling with drops under shorten_at", 262'144, 200'000, 4, true, false, true},
      {"below the ceiling: raise first", 200'000, 190'000, 0, true, false, false},
      {"max.enabled = false counts as no further raise", 200'000, 190'000, 0, false, false, true},
      {"an unwritable max counts as no further raise", 200'000, 190'000, 0, true, true, true},
  };
  for (const auto& row : rows) {
    CAPTURE(row.what);
    Policy policy = testPolicy();
    policy.max.enabled = row.enabled;
    Observation obs = observe(row.max, {ns("gw", row.count, 0, row.drops)});
    if (row.unwritable) obs.unwritable.insert(KnobRef{kInitNetns, Knob::ConntrackMax});
    const auto plan = decide(policy, obs, {});
    const auto shorten = find(plan, ActionKind::ShortenTimeout);
    REQUIRE_MESSAGE(shorten.has_value() == row.shortens, allNotes(plan));
    if (!shorten) continue;
    CHECK(shorten->ref == KnobRef{"gw", Knob::TcpTimeoutTimeWait});
    CHECK(shorten->from == 120);
    CHECK(shorten->to == 60);
    CHECK_FALSE(find(plan, ActionKind::RaiseMax).has_value());
  }
}

TEST_CASE("shortening takes the first timeout in order above its floor and never goes below the floor") {
  struct Row {
    std::int64_t timeWait;
    std::int64_t closeWait;
    Knob knob;
    std::int64_t to;
  };
  const Row rows[] = {
      {120, 60, Knob::TcpTimeoutTimeWait, 60},
      {15, 60, Knob::TcpTimeoutTimeWait, 10},  // 7 is below the floor of 10
      {11, 60, Knob::TcpTimeoutTimeWait, 10},
      {10, 60, Knob::TcpTimeoutCloseWait, 30},  // time_wait at its floor: next in order
      {10, 10, Knob::TcpTimeoutFinWait, 60},
  };
  for (const auto& row : rows) {
    CAPTURE(row.timeWait);
    CAPTURE(row.closeWait);
    auto gw = ns("gw", 250'000);
    gw.timeouts[Knob::TcpTimeoutTimeWait] = row.timeWait;
    gw.timeouts[Knob::TcpTimeoutCloseWait] = row.closeWait;
    const auto shorten = find(decide(testPolicy(), observe(262'144, {gw}), {}), ActionKind::ShortenTimeout);
    REQUIRE(shorten.has_value());
    CHECK(shorten->ref.knob == row.knob);
    CHECK(shorten->to == row.to);
    const Cause* step = cause(*shorten, Reason::ShortenStep);
    REQUIRE(step != nullptr);
    CHECK(step->knob == row.knob);
    CHECK(fact(step, Fact::From) == static_cast<double>(shorten->from));
    CHECK(fact(step, Fact::To) == static_cast<double>(row.to));
    CHECK(fact(step, Fact::Factor) == doctest::Approx(0.5));
    CHECK(fact(step, Fact::Floor) == static_cast<double>(testPolicy().timeouts.floors.at(row.knob)));
  }
}

TEST_CASE("when every timeout in order is at its floor there is nothing left to shorten") {
  const Policy policy = testPolicy();
  auto gw = ns("gw", 250'000);
  for (const auto& [knob, floor] : policy.timeouts.floors) gw.timeouts[knob] = floor;
  const auto plan = decide(policy, observe(262'144, {gw}), {});
  CHECK(plan.actions.empty());
  const Note* held = heldBy(plan, Reason::AllAtFloor);
  REQUIRE(held != nullptr);
  CHECK(held->why.netns == "gw");
  CHECK(held->held == ActionKind::ShortenTimeout);
}

TEST_CASE("timeouts are shortened in the netns that needs it, one step per netns per cooldown") {
  SUBCASE("only the full netns is shortened") {
    const auto plan = decide(testPolicy(), observe(262'144, {ns("init", 1'000), ns("gw", 250'000)}), {});
    REQUIRE(plan.actions.size() == 1);
    CHECK(plan.actions[0].ref.netns == "gw");
  }
  SUBCASE("a timeout change in that netns inside the cooldown waits") {
    struct Row {
      Duration ago;
      std::string netns;
      bool shortens;
    };
    const Row rows[] = {{29s, "gw", false}, {30s, "gw", true}, {1s, "lab", true}};
    for (const auto& row : rows) {
      CAPTURE(row.ago.count());
      CAPTURE(row.netns);
      History history;
      history.changes = {changed(Knob::TcpTimeoutCloseWait, row.ago, row.netns)};
      const auto plan = decide(testPolicy(), observe(262'144, {ns("gw", 250'000)}), history);
      CHECK(find(plan, ActionKind::ShortenTimeout).has_value() == row.shortens);
      if (row.shortens) continue;
      const Note* held = heldBy(plan, Reason::Cooldown);
      REQUIRE(held != nullptr);
      CHECK(held->held == ActionKind::ShortenTimeout);
      CHECK(fact(&held->why, Fact::Cooldown) == 30);
    }
  }
}

TEST_CASE("a timeout that is held, external or unwritable is skipped for the next one in order") {
  const KnobRef timeWait{"gw", Knob::TcpTimeoutTimeWait};
  for (int which = 0; which < 3; ++which) {
    CAPTURE(which);
    Observation obs = observe(262'144, {ns("gw", 250'000)});
    History history;
    if (which == 0) history.holds.push_back(Hold{kNow + 1min, timeWait});
    if (which == 1) history.external.insert(timeWait);
    if (which == 2) obs.unwritable.insert(timeWait);
    const auto plan = decide(testPolicy(), obs, history);
    const auto shorten = find(plan, ActionKind::ShortenTimeout);
    REQUIRE(shorten.has_value());
    CHECK(shorten->ref.knob == Knob::TcpTimeoutCloseWait);
    const Reason why[] = {Reason::Hold, Reason::External, Reason::Unwritable};
    const Note* held = heldBy(plan, why[which]);
    REQUIRE(held != nullptr);
    CHECK(held->held == ActionKind::ShortenTimeout);
    CHECK(held->ref == timeWait);
  }
}

TEST_CASE("timeouts mode off never shortens, and says so under pressure") {
  Policy policy = testPolicy();
  policy.timeouts.mode = TimeoutsPolicy::Mode::Off;
  const auto plan = decide(policy, observe(262'144, {ns("gw", 260'000, 0, 10)}), {});
  CHECK(plan.actions.empty());
  const Note* held = heldBy(plan, Reason::TimeoutsOff);
  REQUIRE(held != nullptr);
  REQUIRE(held->trigger.size() == 2);
  CHECK(held->trigger[0].code == Reason::DropsAtLimit);
  CHECK(held->trigger[1].code == Reason::AtCeiling);
}

TEST_CASE("relax restores shortened timeouts toward the baseline only after relax_after of calm") {
  auto shortened = [] {
    auto gw = ns("gw", 1'000);
    gw.timeouts[Knob::TcpTimeoutTimeWait] = 30;
    gw.timeouts[Knob::TcpTimeoutEstablished] = 100'000;
    return gw;
  };
  struct Row {
    std::optional<Duration> calmFor;
    bool relaxes;
  };
  const Row rows[] = {{std::nullopt, false}, {14min, false}, {15min, true}, {2h, true}};
  for (const auto& row : rows) {
    CAPTURE(row.calmFor ? row.calmFor->count() : -1);
    History history;
    if (row.calmFor) history.calmSince["gw"] = kNow - *row.calmFor;
    const auto plan = decide(testPolicy(), observe(262'144, {shortened()}), history);
    const auto relax = find(plan, ActionKind::RelaxTimeout);
    REQUIRE(relax.has_value() == row.relaxes);
    if (!relax) continue;
    // Last shortened first: established comes last in order, so it is relaxed first.
    CHECK(relax->ref == KnobRef{"gw", Knob::TcpTimeoutEstablished});
    CHECK(relax->from == 100'000);
    CHECK(relax->to == 200'000);
    CHECK(plan.actions.size() == 1);
  }
}

TEST_CASE("relax never goes above the baseline") {
  struct Row {
    std::int64_t current;
    std::int64_t baseline;
    std::optional<std::int64_t> to;
  };
  const Row rows[] = {{30, 120, 60},   {60, 120, 120},           {80, 120, 120},
                      {119, 120, 120}, {120, 120, std::nullopt}, {200, 120, std::nullopt}};
  for (const auto& row : rows) {
    CAPTURE(row.current);
    auto gw = ns("gw", 1'000);
    gw.timeouts[Knob::TcpTimeoutTimeWait] = row.current;
    gw.baselineTimeouts[Knob::TcpTimeoutTimeWait] = row.baseline;
    History history;
    history.calmSince["gw"] = kNow - 1h;
    const auto relax = find(decide(testPolicy(), observe(262'144, {gw}), history), ActionKind::RelaxTimeout);
    REQUIRE(relax.has_value() == row.to.has_value());
    if (relax) CHECK(relax->to == *row.to);
  }
}

TEST_CASE("relax waits for the timeouts cooldown and for fill to be under relax_below") {
  auto gw = ns("gw", 1'000);
  gw.timeouts[Knob::TcpTimeoutTimeWait] = 30;
  History history;
  history.calmSince["gw"] = kNow - 1h;
  SUBCASE("a recent timeout change in the netns") {
    history.changes = {changed(Knob::TcpTimeoutTimeWait, 10s, "gw")};
    const auto plan = decide(testPolicy(), observe(262'144, {gw}), history);
    CHECK(plan.actions.empty());
    const Note* held = heldBy(plan, Reason::Cooldown);
    REQUIRE(held != nullptr);
    CHECK(held->held == ActionKind::RelaxTimeout);
    CHECK(held->ref == KnobRef{"gw", Knob::TcpTimeoutTimeWait});
    CHECK(fact(&held->why, Fact::Elapsed) == 10);
  }
  SUBCASE("fill back at relax_below even though calmSince says calm") {
    gw.count = 160'000;  // 0.61
    CHECK(decide(testPolicy(), observe(262'144, {gw}), history).actions.empty());
  }
}

TEST_CASE("updateCalm records when a netns became calm and forgets it when fill or drops return") {
  const Policy policy = testPolicy();  // relax_below 0.60
  History history;
  Observation obs = observe(100'000, {ns("init", 10'000), ns("gw", 70'000)});
  updateCalm(policy, obs, history);
  REQUIRE(history.calmSince.count("init") == 1);
  CHECK(history.calmSince.at("init") == kNow);
  CHECK(history.calmSince.count("gw") == 0);

  obs.now = kNow + 1min;
  obs.netns[1].count = 50'000;
  updateCalm(policy, obs, history);
  CHECK(history.calmSince.at("init") == kNow);  // still calm since the first time
  CHECK(history.calmSince.at("gw") == kNow + 1min);

  obs.now = kNow + 2min;
  obs.netns[0].count = 60'000;  // 0.60: back at relax_below
  obs.netns[1].dropsPerSec = 1;
  updateCalm(policy, obs, history);
  CHECK(history.calmSince.empty());

  obs.netns = {ns("lab", 0)};
  history.calmSince["gone"] = kNow;
  updateCalm(policy, obs, history);
  CHECK(history.calmSince.count("gone") == 0);
  CHECK(history.calmSince.count("lab") == 1);
}

TEST_CASE("an empty observation, an unloaded module or missing timeouts give notes, not actions") {
  SUBCASE("no netns observed") {
    Observation obs = observe(65'536, {});
    const auto plan = decide(testPolicy(), obs, {});
    CHECK(plan.actions.empty());
    CHECK(heldBy(plan, Reason::NoNetns) != nullptr);
  }
  SUBCASE("nf_conntrack_max is 0") {
    const auto plan = decide(testPolicy(), observe(0, {ns("init", 0, 0, 5)}), {});
    CHECK(plan.actions.empty());
    REQUIRE(heldBy(plan, Reason::MaxUnknown) != nullptr);
    CHECK(fact(&heldBy(plan, Reason::MaxUnknown)->why, Fact::Max) == 0);
  }
  SUBCASE("no timeouts observed where shortening is needed") {
    auto gw = ns("gw", 260'000);
    gw.timeouts.clear();
    gw.baselineTimeouts.clear();
    const auto plan = decide(testPolicy(), observe(262'144, {gw}), {});
    CHECK(plan.actions.empty());
    const Note* held = heldBy(plan, Reason::NoTimeouts);
    REQUIRE(held != nullptr);
    CHECK(held->why.netns == "gw");
  }
  SUBCASE("buckets unknown") {
    Observation obs = observe(262'144, {ns("gw", 1'000)});
    obs.buckets = 0;
    CHECK(decide(testPolicy(), obs, {}).actions.empty());
  }
}

TEST_CASE("actions come in a fixed order: max, buckets, then timeouts by netns name") {
  // max at the ceiling, so timeouts shorten in every full netns; chaintoolong asks for buckets.
  auto zeta = ns("zeta", 250'000);
  auto alpha = ns("alpha", 255'000);
  alpha.chainTooLongPerSec = 3;
  auto calm = ns("mid", 1'000);
  calm.timeouts[Knob::TcpTimeoutTimeWait] = 60;
  History history;
  history.calmSince["mid"] = kNow - 1h;
  Observation obs = observe(262'144, {zeta, calm, alpha});
  obs.buckets = 16'384;
  const auto plan = decide(testPolicy(), obs, history);
  REQUIRE(plan.actions.size() == 4);
  CHECK(plan.actions[0].kind == ActionKind::ResizeBuckets);
  CHECK(plan.actions[1].ref.netns == "alpha");
  CHECK(plan.actions[2].ref.netns == "mid");
  CHECK(plan.actions[2].kind == ActionKind::RelaxTimeout);
  CHECK(plan.actions[3].ref.netns == "zeta");

  std::reverse(obs.netns.begin(), obs.netns.end());
  const auto again = decide(testPolicy(), obs, history);
  REQUIRE(again.actions.size() == plan.actions.size());
  for (std::size_t i = 0; i < plan.actions.size(); ++i) {
    CAPTURE(i);
    CHECK(again.actions[i].ref == plan.actions[i].ref);
    CHECK(again.actions[i].to == plan.actions[i].to);
    CHECK(again.actions[i].because == plan.actions[i].because);
  }
}

TEST_CASE("every action names its kind in the journal's words") {
  CHECK(std::string(actionKindName(ActionKind::RaiseMax)) == "raise-max");
  CHECK(std::string(actionKindName(ActionKind::ResizeBuckets)) == "resize-buckets");
  CHECK(std::string(actionKindName(ActionKind::ShortenTimeout)) == "shorten-timeout");
  CHECK(std::string(actionKindName(ActionKind::RelaxTimeout)) == "relax-timeout");
}

TEST_CASE("relax also undoes earlier shortening after [timeouts] mode is switched off") {
  Policy policy = testPolicy();
  policy.timeouts.mode = TimeoutsPolicy::Mode::Off;
  auto gw = ns("gw", 1'000);
  gw.timeouts[Knob::TcpTimeoutTimeWait] = 30;
  History history;
  history.calmSince["gw"] = kNow - 1h;
  const auto relax = find(decide(policy, observe(262'144, {gw}), history), ActionKind::RelaxTimeout);
  REQUIRE(relax.has_value());
  CHECK(relax->to == 60);
}

// --- hash presizing and the stall bound (README Safety promise 11) ---------------------------

Policy presizePolicy() {
  Policy policy = testPolicy();
  policy.hashsize.mode = HashsizePolicy::Mode::Presize;
  policy.hashsize.maxStall = 5ms;
  return policy;
}

TEST_CASE("presize sizes the buckets for the effective ceiling at the first tick while the table is small") {
  auto obs = observe(65'536, {ns("gw", 2'000)});
  obs.buckets = 16'384;
  const auto plan = decide(presizePolicy(), obs, {});
  const auto resize = find(plan, ActionKind::ResizeBuckets);
  REQUIRE(resize.has_value());
  CHECK(resize->to == 262'144 / 4);  // effective ceiling 262144 at entries_per_bucket 4
  CHECK(fact(cause(*resize, Reason::Presize), Fact::SizedFor) == 262'144);
  const Cause* stall = cause(*resize, Reason::StallFits);
  CHECK(fact(stall, Fact::Entries) == 2'000);
  CHECK(fact(stall, Fact::StallMs) == doctest::Approx(1.0));
  CHECK(fact(stall, Fact::NsPerEntry) == 500);
  CHECK(fact(stall, Fact::MaxStall) == doctest::Approx(0.005));
  CHECK_FALSE(plan.mentions(Reason::StallTooLong));

  SUBCASE("once presized, nothing more to do as max grows") {
    obs.buckets = 65'536;
    obs.netns = {ns("gw", 60'000, 500)};
    const auto later = decide(presizePolicy(), obs, {});
    CHECK(find(later, ActionKind::RaiseMax).has_value());
    CHECK_FALSE(find(later, ActionKind::ResizeBuckets).has_value());
  }
  SUBCASE("max_memory bounds the buckets: 8 bytes each") {
    auto policy = presizePolicy();
    policy.hashsize.maxMemory = 256 * 1024;  // 32768 buckets
    const auto bounded = find(decide(policy, obs, {}), ActionKind::ResizeBuckets);
    REQUIRE(bounded.has_value());
    CHECK(bounded->to == 32'768);
    const Cause* bound = cause(*bounded, Reason::MaxMemory);
    CHECK(fact(bound, Fact::MaxMemory) == 256 * 1024);
    CHECK(fact(bound, Fact::Cap) == 32'768);
  }
}

TEST_CASE("no resize whose estimated stall exceeds max_stall: a note says so, with the estimate") {
  auto obs = observe(65'536, {ns("gw", 2'000)});
  obs.buckets = 16'384;
  obs.totalEntries = 200'000;  // the slab: other namespaces hold entries too; the rehash covers them all
  const auto plan = decide(presizePolicy(), obs, {});
  CHECK_FALSE(find(plan, ActionKind::ResizeBuckets).has_value());
  const Note* held = heldBy(plan, Reason::StallTooLong);
  REQUIRE(held != nullptr);
  CHECK(fact(&held->why, Fact::StallMs) == doctest::Approx(100.0));
  CHECK(fact(&held->why, Fact::Entries) == 200'000);
  CHECK(fact(&held->why, Fact::MaxStall) == doctest::Approx(0.005));
  CHECK(fact(&held->why, Fact::From) == 16'384);
  CHECK(fact(&held->why, Fact::To) == 65'536);
  CHECK(fact(&held->why, Fact::Emergency) == 0);

  SUBCASE("a cost per entry learned from timed resizes changes the estimate") {
    obs.totalEntries = 20'000;
    obs.resizeNsPerEntry = 200;  // 4 ms
    CHECK(find(decide(presizePolicy(), obs, {}), ActionKind::ResizeBuckets).has_value());
    obs.resizeNsPerEntry = 400;  // 8 ms
    CHECK_FALSE(find(decide(presizePolicy(), obs, {}), ActionKind::ResizeBuckets).has_value());
  }
  SUBCASE("follow mode is bounded the same way") {
    auto policy = presizePolicy();
    policy.hashsize.mode = HashsizePolicy::Mode::Follow;
    obs.buckets = 4'096;
    obs.netns = {ns("gw", 60'000, 500)};
    const auto followed = decide(policy, obs, {});
    CHECK(find(followed, ActionKind::RaiseMax).has_value());
    CHECK_FALSE(find(followed, ActionKind::ResizeBuckets).has_value());
    CHECK(followed.mentions(Reason::StallTooLong));
  }
}

TEST_CASE("a chaintoolong emergency exceeds max_stall only when emergency_may_stall allows it") {
  auto obs = observe(65'536, {ns("gw", 40'000)});
  obs.buckets = 65'536;
  obs.netns[0].chainTooLongPerSec = 30;
  auto policy = presizePolicy();
  const auto refused = decide(policy, obs, {});
  CHECK_FALSE(find(refused, ActionKind::ResizeBuckets).has_value());
  REQUIRE(heldBy(refused, Reason::StallTooLong) != nullptr);
  CHECK(fact(&heldBy(refused, Reason::StallTooLong)->why, Fact::Emergency) == 1);

  policy.hashsize.emergencyMayStall = true;
  const auto resize = find(decide(policy, obs, {}), ActionKind::ResizeBuckets);
  REQUIRE(resize.has_value());
  CHECK(resize->to == 131'072);
  CHECK(cause(*resize, Reason::StallAllowed) != nullptr);
}

// --- drops within one tick --------------------------------------------------------------------

TEST_CASE("a full, dropping table is sized from the demand the kernel counted, not the censored slope") {
  // 18,000 new connections/s into a full 4096 table: the count cannot grow, so its slope is ~0.
  auto full = ns("gw", 4'096, /*growth=*/0, /*drops=*/17'000);
  full.earlyDropsPerSec = 0;
  full.demandPerSec = 17'000;  // count change 0 + drops + early drops over the newest interval
  auto obs = observe(4'096, {full});
  obs.baselineMax = 4'096;
  const auto raise = find(decide(testPolicy(), obs, {}), ActionKind::RaiseMax);
  REQUIRE(raise.has_value());
  CHECK(raise->to == 262'144);  // (4096 + 17000 x 60) / 0.5 is far above: clamped to the ceiling
  const Cause* rule = cause(*raise, Reason::TargetFill);
  REQUIRE(rule != nullptr);
  CHECK(rule->netns == "gw");
  CHECK(fact(rule, Fact::Demand) == 17'000);

  SUBCASE("without the counters' demand only doubling while dropping remains") {
    full.demandPerSec = 0;
    obs.netns = {full};
    const auto doubled = find(decide(testPolicy(), obs, {}), ActionKind::RaiseMax);
    REQUIRE(doubled.has_value());
    CHECK(doubled->to == 8'192);
  }
}

TEST_CASE("early drops at a full table raise again inside the cooldown, as drops do") {
  // A table of one-way flows that is full early-drops (evicts unreplied entries) instead of dropping.
  auto evicting = ns("fill", 65'536, 20'000);
  evicting.earlyDropsPerSec = 20'000;
  const auto obs = observe(65'536, {evicting});
  History h;
  h.changes = {changed(Knob::ConntrackMax, 2s)};
  const auto raise = find(decide(testPolicy(), obs, h), ActionKind::RaiseMax);
  REQUIRE(raise.has_value());
  CHECK(raise->to > 65'536);
  const Cause* trigger = cause(*raise, Reason::Drops);
  REQUIRE(trigger != nullptr);
  CHECK(trigger->netns == "fill");
  CHECK(fact(trigger, Fact::Drops) == 0);
  CHECK(fact(trigger, Fact::EarlyDrops) == 20'000);

  SUBCASE("without early drops a full table that no longer grows waits for the cooldown") {
    evicting.earlyDropsPerSec = 0;
    evicting.growthPerSec = 0;
    const auto plan = decide(testPolicy(), observe(65'536, {evicting}), h);
    CHECK_FALSE(find(plan, ActionKind::RaiseMax).has_value());
    CHECK(fact(&heldBy(plan, Reason::Cooldown)->why, Fact::Cooldown) == 10);
  }
}

TEST_CASE("while drops continue each tick raises again, inside the cooldown, up to max_changes") {
  auto dropping = ns("gw", 8'192, 0, /*drops=*/500);
  auto obs = observe(8'192, {dropping});
  obs.baselineMax = 4'096;
  History h;
  h.changes = {changed(Knob::ConntrackMax, 100ms)};
  const auto raise = find(decide(testPolicy(), obs, h), ActionKind::RaiseMax);
  REQUIRE(raise.has_value());
  CHECK(raise->to == 16'384);
  CHECK(fact(cause(*raise, Reason::Drops), Fact::Drops) == 500);
  for (int i = 0; i < testPolicy().controller.maxChanges; ++i) h.changes.push_back(changed(Knob::ConntrackMax, 1s));
  CHECK_FALSE(find(decide(testPolicy(), obs, h), ActionKind::RaiseMax).has_value());
}

TEST_CASE("a table that fills before the cooldown ends raises inside the cooldown") {
  // max 100000, raised 3 s ago (cooldown 10s, interval 1s): the next raise after the cooldown
  // could come 8 s from now. A ramp's slope lags; the newest interval's demand does not.
  auto ramp = ns("ramp", 82'000, /*growth=*/2'000);
  ramp.demandPerSec = 20'000;
  History h;
  h.changes = {changed(Knob::ConntrackMax, 3s)};
  const auto policy = testPolicy();

  SUBCASE("82000 + 20000/s x 8 s passes max: raise now, to the effective ceiling") {
    const auto raise = find(decide(policy, observe(100'000, {ramp}), h), ActionKind::RaiseMax);
    REQUIRE(raise.has_value());
    CHECK(raise->to == 262'144);  // (82000 + 20000 x 60) / 0.5, clamped to the ceiling
    const Cause* urgent = cause(*raise, Reason::FullInCooldown);
    REQUIRE(urgent != nullptr);
    CHECK(urgent->netns == "ramp");
    CHECK(fact(urgent, Fact::Growth) == 20'000);
    CHECK(fact(urgent, Fact::Count) == 82'000);
    CHECK(fact(urgent, Fact::Expected) == 160'000);
    CHECK(fact(urgent, Fact::Max) == 100'000);
    CHECK(fact(urgent, Fact::Horizon) == 8);
  }
  SUBCASE("a table at high_water that will not be full before then waits: max decides, not high_water") {
    ramp.growthPerSec = 1'000;
    ramp.demandPerSec = 2'000;  // 82000 + 16000 < 100000
    const auto plan = decide(policy, observe(100'000, {ramp}), h);
    CHECK_FALSE(find(plan, ActionKind::RaiseMax).has_value());
    CHECK(fact(&heldBy(plan, Reason::Cooldown)->why, Fact::Cooldown) == 10);
  }
  SUBCASE("the horizon includes one interval: the first tick after the cooldown may come that much later") {
    ramp.growthPerSec = 0;
    ramp.demandPerSec = 2'300;  // 82000 + 2300 x 7 s < 100000 <= 82000 + 2300 x 8 s
    CHECK(find(decide(policy, observe(100'000, {ramp}), h), ActionKind::RaiseMax).has_value());
    auto fast = policy;
    fast.controller.interval = 100ms;  // 82000 + 2300 x 7.1 s < 100000
    CHECK_FALSE(find(decide(fast, observe(100'000, {ramp}), h), ActionKind::RaiseMax).has_value());
  }
  SUBCASE("below high_water the lookahead trigger's raise is sized from the demand that fills the table") {
    auto roomy = policy;
    roomy.max.ceiling = 4 * 1024 * 1024;
    ramp.count = 50'000;  // lookahead: 50000 + 1000 x 60 >= 80000
    ramp.growthPerSec = 1'000;
    ramp.demandPerSec = 6'000;  // 50000 + 6000 x 9 s >= 100000 (raised 2 s ago)
    History two;
    two.changes = {changed(Knob::ConntrackMax, 2s)};
    const auto raise = find(decide(roomy, observe(100'000, {ramp}), two), ActionKind::RaiseMax);
    REQUIRE(raise.has_value());
    CHECK(raise->to == 820'000);  // (50000 + 6000 x 60) / 0.5, not (50000 + 1000 x 60) / 0.5
  }
  SUBCASE("the change window, holds and the memory budget still bound it") {
    History busy = h;
    for (int i = 1; i < policy.controller.maxChanges; ++i) busy.changes.push_back(changed(Knob::ConntrackMax, 60s * i));
    const auto guarded = decide(policy, observe(100'000, {ramp}), busy);
    CHECK_FALSE(find(guarded, ActionKind::RaiseMax).has_value());
    CHECK(heldBy(guarded, Reason::OscillationGuard) != nullptr);

    History held = h;
    held.holds = {Hold{kNow + 1h, KnobRef{kInitNetns, Knob::ConntrackMax}}};
    const auto holding = decide(policy, observe(100'000, {ramp}), held);
    CHECK_FALSE(find(holding, ActionKind::RaiseMax).has_value());
    CHECK(heldBy(holding, Reason::Hold) != nullptr);

    auto tight = policy;
    tight.max.memoryBudget = {0.0025};  // 16 GiB x 0.25% / 320 B = 134,217 entries
    const auto obs = observe(100'000, {ramp});
    const auto budgeted = find(decide(tight, obs, h), ActionKind::RaiseMax);
    REQUIRE(budgeted.has_value());
    CHECK(budgeted->to == memoryCapEntries(tight, obs));
    const Cause* clamp = cause(*budgeted, Reason::CeilingClamp);
    CHECK(fact(clamp, Fact::Ceiling) == 134'217);
    CHECK(fact(clamp, Fact::PolicyCeiling) == 262'144);
    CHECK(fact(clamp, Fact::MemoryBudget) == doctest::Approx(0.0025));
  }
}

// --- the memory budget bounds every namespace together ----------------------------------------

TEST_CASE("the memory budget bounds the namespaces together: each may hold max entries") {
  // 1 GiB x 10% / 320 B = 335,544 entries for all namespaces; ceiling 262144 per namespace.
  auto policy = testPolicy();
  policy.max.memoryBudget = {0.10};
  auto obs = observe(65'536, {ns("a", 60'000, 2'000), ns("b", 60'000, 2'000), ns("c", 60'000, 2'000)});
  obs.memTotalBytes = kGiB;
  const auto plan = decide(policy, obs, {});
  const auto raise = find(plan, ActionKind::RaiseMax);
  REQUIRE(raise.has_value());
  CHECK(raise->to == 335'544 / 3);  // three growing namespaces at max each fit the budget
  const Cause* budget = cause(*raise, Reason::BudgetBounded);
  REQUIRE(budget != nullptr);
  CHECK(fact(budget, Fact::Budget) == 335'544);
  CHECK(fact(budget, Fact::Total) == 180'000);
  using Holders = std::vector<std::pair<std::string, std::int64_t>>;
  CHECK(budget->namespaces == Holders{{"a", 60'000}, {"b", 60'000}, {"c", 60'000}});

  SUBCASE("a paused namespace counts with what it may climb back to, entries outside the watched ones too") {
    obs.netns = {ns("a", 60'000, 4'000), ns("idle", 20'000)};
    obs.totalEntries = 120'000;  // 40,000 entries in namespaces ctpilot does not watch
    const auto limited = find(decide(policy, obs, {}), ActionKind::RaiseMax);
    REQUIRE(limited.has_value());
    CHECK(limited->to == 335'544 - 20'000 / 0.5 - 40'000);  // idle at count / target_fill
    CHECK(fact(cause(*limited, Reason::BudgetBounded), Fact::Unwatched) == 40'000);
  }
  SUBCASE("when the budget is held already, no raise: a note names the namespaces, and timeouts may shorten") {
    obs.max = 120'000;
    obs.netns = {ns("a", 110'000, 100), ns("b", 110'000, 100), ns("c", 110'000, 100)};
    const auto held = decide(policy, obs, {});
    CHECK_FALSE(find(held, ActionKind::RaiseMax).has_value());
    const Note* note = heldBy(held, Reason::MemoryBudget);
    REQUIRE(note != nullptr);
    CHECK(note->held == ActionKind::RaiseMax);
    CHECK(fact(&note->why, Fact::Total) == 330'000);
    CHECK(note->why.namespaces == Holders{{"a", 110'000}, {"b", 110'000}, {"c", 110'000}});
    CHECK(find(held, ActionKind::ShortenTimeout).has_value());
  }
}

TEST_CASE("a note says when namespaces outside the watched set hold more than the fullest watched one") {
  auto policy = testPolicy();
  policy.controller.netns.mode = NetnsSelector::Mode::Init;
  auto obs = observe(65'536, {ns("init", 2'000)});
  obs.totalEntries = 52'000;  // 50,000 entries in namespaces ctpilot does not watch
  const auto plan = decide(policy, obs, {});
  const Note* note = heldBy(plan, Reason::UnwatchedNamespaces);
  REQUIRE(note != nullptr);
  CHECK_FALSE(note->held.has_value());  // a warning: no change held back
  CHECK(note->why.netns == "init");
  CHECK(fact(&note->why, Fact::Unwatched) == 50'000);
  CHECK(fact(&note->why, Fact::Count) == 2'000);

  obs.totalEntries = 3'000;  // a few outside: no news
  CHECK_FALSE(decide(policy, obs, {}).mentions(Reason::UnwatchedNamespaces));
  obs.totalEntries = 0;  // unknown
  CHECK_FALSE(decide(policy, obs, {}).mentions(Reason::UnwatchedNamespaces));
}

// --- the words: a few golden tests pin the exact wording reasonText() and noteText() render ---
// Every other test asserts reason codes and numbers; these keep the sentences operators read in
// logs, `plan` and the journal's `reason` from changing unnoticed (CHANGELOG when they must).

TEST_CASE("golden: a raise's reason reads trigger, sizing, bounds and the cooldown exception in that order") {
  const auto plan = decide(testPolicy(), observe(65'536, {ns("init", 1'000), ns("gw", 59'640, 850)}), {});
  REQUIRE(find(plan, ActionKind::RaiseMax).has_value());
  CHECK(reasonText(*find(plan, ActionKind::RaiseMax)) ==
        "fill 0.91 >= high_water 0.80 in gw (count 59640, max 65536, growth 850/s); sized for target_fill 0.50 "
        "after lookahead 1m");

  auto ramp = ns("ramp", 82'000, /*growth=*/2'000);
  ramp.demandPerSec = 20'000;
  History h;
  h.changes = {changed(Knob::ConntrackMax, 3s)};
  const auto urgent = find(decide(testPolicy(), observe(100'000, {ramp}), h), ActionKind::RaiseMax);
  REQUIRE(urgent.has_value());
  CHECK(reasonText(*urgent) ==
        "fill 0.82 >= high_water 0.80 in ramp (count 82000, max 100000, growth 20000/s); sized for target_fill 0.50 "
        "after lookahead 1m at the demand the kernel counted in ramp (20000/s: count change + drop + early_drop), "
        "clamped to effective ceiling 262144 (ceiling 256k, memory budget 25% of 16.0 GiB / 320 B); inside the "
        "cooldown: growth 20000/s in ramp fills the table before a raise after the cooldown could (count 82000 + "
        "160000 >= max 100000 within 8s: the rest of cooldown 10s plus one interval 1s)");
}

TEST_CASE("golden: a shortened timeout's reason names the pressure, why max cannot help, and the step") {
  auto gw = ns("init", 249'037);  // fill 0.95
  gw.timeouts[Knob::TcpTimeoutTimeWait] = 120;
  const auto shorten = find(decide(testPolicy(), observe(262'144, {gw}), {}), ActionKind::ShortenTimeout);
  REQUIRE(shorten.has_value());
  CHECK(reasonText(*shorten) ==
        "fill 0.95 >= shorten_at 0.90 in init and nf_conntrack_max 262144 is at its effective ceiling 262144 "
        "(ceiling 256k, memory budget 25% of 16.0 GiB / 320 B): tcp_timeout_time_wait 120s x 0.5 = 60s (floor 10s)");
}

TEST_CASE("golden: notes read \"not <verb> <knob> [yet] (<trigger>): <why>\", or a sentence of their own") {
  History held;
  held.holds = {Hold{kNow + 90s, KnobRef{kInitNetns, Knob::ConntrackMax}}};
  const auto holding = decide(testPolicy(), observe(65'536, {ns("init", 60'000)}), held);
  REQUIRE(heldBy(holding, Reason::Hold) != nullptr);
  CHECK(noteText(*heldBy(holding, Reason::Hold)) ==
        "not raising nf_conntrack_max (fill 0.92 >= high_water 0.80 in init (count 60000, max 65536, growth 0/s)): "
        "it is held by rollback for another 90s");

  auto obs = observe(65'536, {ns("gw", 2'000)});
  obs.buckets = 16'384;
  obs.totalEntries = 200'000;
  auto unwatching = presizePolicy();
  unwatching.controller.netns.mode = NetnsSelector::Mode::Init;
  const auto stalled = decide(unwatching, obs, {});
  REQUIRE(heldBy(stalled, Reason::StallTooLong) != nullptr);
  CHECK(noteText(*heldBy(stalled, Reason::StallTooLong)) ==
        "not resizing nf_conntrack_buckets 16384 -> 65536 (presized for effective ceiling 262144 / entries_per_bucket "
        "4 while the table is small): estimated stall 100.0 ms (200000 entries x 0.50 us) > max_stall 5ms; every "
        "packet through conntrack would wait that long");
  REQUIRE(heldBy(stalled, Reason::UnwatchedNamespaces) != nullptr);
  CHECK(noteText(*heldBy(stalled, Reason::UnwatchedNamespaces)) ==
        "namespaces outside the watched set hold 198000 entries, more than the fullest watched one (2000 in gw): one "
        "of them may fill first; [controller] netns = all watches them");

  History recent;
  recent.calmSince["gw"] = kNow - 1h;
  recent.changes = {changed(Knob::TcpTimeoutTimeWait, 10s, "gw")};
  auto calm = ns("gw", 1'000);
  calm.timeouts[Knob::TcpTimeoutTimeWait] = 30;
  const auto waiting = decide(testPolicy(), observe(262'144, {calm}), recent);
  REQUIRE(heldBy(waiting, Reason::Cooldown) != nullptr);
  CHECK(noteText(*heldBy(waiting, Reason::Cooldown)) ==
        "not relaxing nf_conntrack_tcp_timeout_time_wait in gw yet (fill 0.00 < relax_below 0.60 in gw for 1h "
        "(relax_after 15m)): the last change was 10s ago (timeouts cooldown 30s)");
}

TEST_CASE("under netns = all, namespaces that came since the last scan do not ask for netns = all") {
  auto policy = testPolicy();
  policy.controller.netns.mode = NetnsSelector::Mode::All;
  auto obs = observe(65'536, {ns("init", 2'000)});
  obs.totalEntries = 52'000;  // a test namespace created since the last scan holds 50,000
  const auto plan = decide(policy, obs, {});
  CHECK_FALSE(plan.mentions(Reason::UnwatchedNamespaces));
  // (They still count against the memory budget: decideMax sizes with the slab total.)
}

namespace {

// A namespace whose shed timeouts ([timeouts] shed) are observed too, at values above their
// floors (udp_timeout 5s, syn_sent 30s, syn_recv 30s, unacknowledged 1m).
NetnsObservation shedNs(std::string name, std::int64_t count, double earlyDrops = 0) {
  NetnsObservation n = ns(std::move(name), count);
  n.earlyDropsPerSec = earlyDrops;
  for (auto* timeouts : {&n.timeouts, &n.baselineTimeouts}) {
    (*timeouts)[Knob::UdpTimeout] = 30;
    (*timeouts)[Knob::TcpTimeoutSynSent] = 120;
    (*timeouts)[Knob::TcpTimeoutSynRecv] = 60;
    (*timeouts)[Knob::TcpTimeoutUnacknowledged] = 300;
  }
  return n;
}

std::vector<Action> timeoutSteps(const Plan& plan) {
  std::vector<Action> out;
  for (const auto& a : plan.actions) {
    if (a.kind == ActionKind::ShortenTimeout || a.kind == ActionKind::RelaxTimeout) out.push_back(a);
  }
  return out;
}

std::vector<Reason> codes(const std::vector<Cause>& causes) {
  std::vector<Reason> out;
  for (const auto& c : causes) out.push_back(c.code);
  return out;
}

}  // namespace

TEST_CASE("early drops shed every shed timeout above its floor straight to it, before order, whatever mode says") {
  for (const auto mode : {TimeoutsPolicy::Mode::Shorten, TimeoutsPolicy::Mode::Off}) {
    CAPTURE(mode == TimeoutsPolicy::Mode::Off);
    Policy policy = testPolicy();
    policy.timeouts.mode = mode;
    const auto plan = decide(policy, observe(262'144, {shedNs("gw", 250'000, /*earlyDrops=*/100)}), {});
    const auto steps = timeoutSteps(plan);
    REQUIRE(steps.size() == 4);
    const std::map<Knob, std::pair<std::int64_t, std::int64_t>> want{{Knob::UdpTimeout, {30, 5}},
                                                                     {Knob::TcpTimeoutSynSent, {120, 30}},
                                                                     {Knob::TcpTimeoutSynRecv, {60, 30}},
                                                                     {Knob::TcpTimeoutUnacknowledged, {300, 60}}};
    for (const auto& step : steps) {
      CAPTURE(kernelName(step.ref.knob));
      REQUIRE(want.count(step.ref.knob) == 1);
      CHECK(step.kind == ActionKind::ShortenTimeout);
      CHECK(step.ref.netns == "gw");
      CHECK(step.from == want.at(step.ref.knob).first);
      CHECK(step.to == want.at(step.ref.knob).second);
      CHECK(codes(step.because) == std::vector<Reason>{Reason::EarlyDrops, Reason::Shed, Reason::ShedStep});
      CHECK(step.because.front().netns == "gw");
      CHECK(fact(cause(step, Reason::EarlyDrops), Fact::EarlyDrops) == 100);
      CHECK(fact(cause(step, Reason::ShedStep), Fact::From) == want.at(step.ref.knob).first);
      CHECK(fact(cause(step, Reason::ShedStep), Fact::To) == want.at(step.ref.knob).second);
      CHECK(cause(step, Reason::ShedStep)->knob == step.ref.knob);
    }

    CHECK(plan.mentions(Reason::Shed));
    CHECK_FALSE(plan.mentions(Reason::TimeoutsOff));  // order waits for the next tick
  }
}

TEST_CASE("shedding is triggered by early drops, growth reaching the effective ceiling, or order's pressure") {
  SUBCASE("growth that reaches the effective ceiling within lookahead, while max may still go up") {
    auto growing = shedNs("gw", 50'000);
    growing.growthPerSec = 4'000;  // 50,000 + 4,000/s x 60 s >= 262,144
    const auto plan = decide(testPolicy(), observe(100'000, {growing}), {});
    REQUIRE(timeoutSteps(plan).size() == 4);
    const Action step = timeoutSteps(plan).front();
    CHECK(codes(step.because) == std::vector<Reason>{Reason::CeilingLookahead, Reason::Shed, Reason::ShedStep});
    const Cause* why = cause(step, Reason::CeilingLookahead);
    CHECK(why->netns == "gw");
    CHECK(fact(why, Fact::Growth) == 4'000);
    CHECK(fact(why, Fact::Ceiling) == 262'144);
    CHECK(fact(why, Fact::Lookahead) == 60);
    CHECK(fact(why, Fact::Count) == 50'000);
    CHECK(fact(why, Fact::Expected) == 240'000);
    CHECK(find(plan, ActionKind::RaiseMax).has_value());  // max goes up too
  }
  SUBCASE("fill at shorten_at while max is at its ceiling: order's trigger, then shed") {
    const auto plan = decide(testPolicy(), observe(262'144, {shedNs("gw", 240'000)}), {});
    REQUIRE(timeoutSteps(plan).size() == 4);
    const Action step = timeoutSteps(plan).front();
    CHECK(codes(step.because) ==
          std::vector<Reason>{Reason::ShortenAt, Reason::AtCeiling, Reason::Shed, Reason::ShedStep});
    CHECK(fact(cause(step, Reason::ShortenAt), Fact::Fill) == doctest::Approx(240'000.0 / 262'144));
    for (const auto& s : timeoutSteps(plan)) CHECK(s.ref.knob != Knob::TcpTimeoutTimeWait);  // order waits
  }
  SUBCASE("no early drops, no pressure, growth short of the ceiling: nothing shed") {
    auto slow = shedNs("gw", 50'000);
    slow.growthPerSec = 100;
    const auto plan = decide(testPolicy(), observe(262'144, {slow}), {});
    CHECK(timeoutSteps(plan).empty());
    CHECK_FALSE(plan.mentions(Reason::Shed));
  }
  SUBCASE("shed = (empty): never") {
    Policy policy = testPolicy();
    policy.timeouts.shed.clear();
    const auto plan = decide(policy, observe(262'144, {shedNs("gw", 1'000, /*earlyDrops=*/100)}), {});
    CHECK(timeoutSteps(plan).empty());
    CHECK_FALSE(plan.mentions(Reason::Shed));
  }
}

TEST_CASE("one shedding step per shed_cooldown in a netns; a shed timeout left alone waits alone") {
  SUBCASE("inside shed_cooldown: held, with code shed_cooldown, and order does not move either") {
    History h;
    h.changes = {changed(Knob::UdpTimeout, 2s, "gw")};
    auto gw = shedNs("gw", 250'000, /*earlyDrops=*/100);
    gw.timeouts[Knob::UdpTimeout] = 15;
    const auto plan = decide(testPolicy(), observe(262'144, {gw}), h);
    CHECK(timeoutSteps(plan).empty());
    const Note* note = heldBy(plan, Reason::ShedCooldown);
    REQUIRE(note != nullptr);
    CHECK(note->held == ActionKind::ShortenTimeout);
    CHECK_FALSE(note->ref.has_value());
    CHECK(note->why.netns == "gw");
    CHECK(fact(&note->why, Fact::Elapsed) == 2);
    CHECK(fact(&note->why, Fact::Cooldown) == 5);
    CHECK(codes(note->trigger) == std::vector<Reason>{Reason::EarlyDrops, Reason::Shed});
    CHECK(noteText(*note) ==
          "not shedding timeouts in gw yet (early drops 100/s in gw: the kernel evicts flows that never saw a reply "
          "to admit new ones): the last change was 2s ago (shed_cooldown 5s)");
  }
  SUBCASE("after shed_cooldown: the next step") {
    History h;
    h.changes = {changed(Knob::UdpTimeout, 5s, "gw")};
    CHECK(timeoutSteps(decide(testPolicy(), observe(262'144, {shedNs("gw", 250'000, 100)}), h)).size() == 4);
  }
  SUBCASE("a held shed timeout is noted as not shed; the others are shed") {
    History h;
    h.holds = {Hold{kNow + 90s, KnobRef{"gw", Knob::UdpTimeout}}};
    const auto plan = decide(testPolicy(), observe(262'144, {shedNs("gw", 250'000, 100)}), h);
    CHECK(timeoutSteps(plan).size() == 3);
    const Note* note = heldBy(plan, Reason::Hold);
    REQUIRE(note != nullptr);
    CHECK(note->ref == KnobRef{"gw", Knob::UdpTimeout});
    CHECK(noteText(*note) ==
          "not shedding nf_conntrack_udp_timeout in gw (early drops 100/s in gw: the kernel evicts flows that never "
          "saw a reply to admit new ones): it is held by rollback for another 90s");
  }
}

TEST_CASE("every shed timeout at its floor: order's turn under pressure, otherwise no timeout moves") {
  auto floored = shedNs("gw", 250'000, /*earlyDrops=*/100);
  floored.timeouts[Knob::UdpTimeout] = 5;
  floored.timeouts[Knob::TcpTimeoutSynSent] = 30;
  floored.timeouts[Knob::TcpTimeoutSynRecv] = 30;
  floored.timeouts[Knob::TcpTimeoutUnacknowledged] = 60;
  SUBCASE("at the ceiling above shorten_at: order is shortened") {
    const auto steps = timeoutSteps(decide(testPolicy(), observe(262'144, {floored}), {}));
    REQUIRE(steps.size() == 1);
    CHECK(steps[0].ref.knob == Knob::TcpTimeoutTimeWait);
    CHECK(codes(steps[0].because) ==
          std::vector<Reason>{Reason::ShortenAt, Reason::AtCeiling, Reason::ShortenStep});  // no shed marker
  }
  SUBCASE("calm but still early-dropping: nothing relaxed (it would undo the shedding)") {
    floored.count = 1'000;
    floored.timeouts[Knob::TcpTimeoutTimeWait] = 60;  // shortened earlier
    History h;
    h.calmSince["gw"] = kNow - 1h;
    CHECK(timeoutSteps(decide(testPolicy(), observe(262'144, {floored}), h)).empty());
    floored.earlyDropsPerSec = 0;
    CHECK(timeoutSteps(decide(testPolicy(), observe(262'144, {floored}), h)).size() == 1);  // relaxed
  }
}

TEST_CASE("golden: a shedding step's reason; shedding goes to the floors whatever factor says") {
  const auto plan = decide(testPolicy(), observe(262'144, {shedNs("gw", 250'000, 100)}), {});
  REQUIRE_FALSE(timeoutSteps(plan).empty());
  CHECK(reasonText(timeoutSteps(plan).front()) ==
        "early drops 100/s in gw: the kernel evicts flows that never saw a reply to admit new ones: shedding flows "
        "that never saw a reply: udp_timeout 30s -> 5s (its floor)");
  for (const double factor : {0.1, 0.9, 2.0}) {
    CAPTURE(factor);
    Policy other = testPolicy();
    other.timeouts.factor = factor;
    const auto shed = decide(other, observe(262'144, {shedNs("gw", 1'000, 100)}), {});
    REQUIRE(timeoutSteps(shed).size() == 4);
    CHECK(timeoutSteps(shed).front().to == 5);
    CHECK(heldBy(shed, Reason::BadFactor) == nullptr);
  }
}
