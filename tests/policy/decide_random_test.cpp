// SPDX-License-Identifier: Apache-2.0
// A seeded randomized test of decide(): random but valid policies, random observations and
// random histories; every planned action is checked against the safety promises.

#include <doctest/doctest.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "policy/decide.h"

using namespace ctpilot::policy;
using namespace std::chrono_literals;

namespace {

constexpr std::uint64_t kSeed = 0xC0FFEE'2026'1127ULL;
constexpr int kRounds = 120'000;

class Random {
 public:
  explicit Random(std::uint64_t seed) : rng_(seed) {}
  std::int64_t between(std::int64_t lo, std::int64_t hi) {
    return std::uniform_int_distribution<std::int64_t>(lo, hi)(rng_);
  }
  double real(double lo, double hi) { return std::uniform_real_distribution<double>(lo, hi)(rng_); }
  bool chance(double p) { return std::bernoulli_distribution(p)(rng_); }
  // Log-uniform: table sizes span orders of magnitude.
  std::int64_t logBetween(std::int64_t lo, std::int64_t hi) {
    return std::clamp<std::int64_t>(
        static_cast<std::int64_t>(std::exp(real(std::log(static_cast<double>(lo)), std::log(static_cast<double>(hi))))),
        lo, hi);
  }
  Duration seconds(std::int64_t lo, std::int64_t hi) { return Duration(between(lo * 1000, hi * 1000)); }
  template <class T>
  const T& pick(const std::vector<T>& v) {
    return v[static_cast<std::size_t>(between(0, static_cast<std::int64_t>(v.size()) - 1))];
  }
  std::mt19937_64& engine() { return rng_; }

 private:
  std::mt19937_64 rng_;
};

std::vector<Knob> timeoutKnobs() {
  std::vector<Knob> knobs;
  for (const auto& info : allKnobs()) {
    if (info.timeout) knobs.push_back(info.knob);
  }
  return knobs;
}

const std::vector<Knob> kTimeouts = timeoutKnobs();
const std::vector<std::string> kNames{"init", "gw", "lab", "cust-a", "cust-b"};
const TimePoint kEpoch = TimePoint{} + std::chrono::hours(500'000);

// Valid as the loader would accept it: target_fill < high_water, relax_below < shorten_at,
// floors at or under the kernel defaults, factor in (0, 1).
Policy randomPolicy(Random& r) {
  Policy p;
  p.controller.maxChanges = static_cast<int>(r.between(1, 10));
  p.controller.changeWindow = r.seconds(60, 3600);
  p.max.enabled = r.chance(0.9);
  p.max.ceiling = r.logBetween(16'384, 16 * 1024 * 1024);
  p.max.memoryBudget = Ratio{r.real(0.01, 0.6)};
  p.max.highWater = Ratio{r.real(0.3, 0.99)};
  p.max.targetFill = Ratio{r.real(0.05, p.max.highWater.value - 0.01)};
  p.max.lookahead = r.seconds(0, 600);
  p.max.cooldown = r.seconds(0, 120);
  p.max.margin = r.chance(0.2) ? 0 : r.between(0, 100'000);
  p.hashsize.mode = r.chance(0.8) ? (r.chance(0.5) ? HashsizePolicy::Mode::Follow : HashsizePolicy::Mode::Presize)
                                  : HashsizePolicy::Mode::Fixed;
  p.hashsize.maxStall = Duration(r.between(0, 100));
  p.hashsize.emergencyMayStall = r.chance(0.3);
  p.hashsize.maxMemory = r.logBetween(64LL << 10, 1LL << 30);
  p.hashsize.entriesPerBucket = r.between(1, 16);
  p.hashsize.minInterval = r.seconds(0, 3600);
  p.timeouts.mode = r.chance(0.7) ? TimeoutsPolicy::Mode::Shorten : TimeoutsPolicy::Mode::Off;
  p.timeouts.shortenAt = Ratio{r.real(0.5, 1.0)};
  p.timeouts.relaxBelow = Ratio{r.real(0.05, p.timeouts.shortenAt.value - 0.01)};
  p.timeouts.factor = r.real(0.1, 0.95);
  p.timeouts.relaxAfter = r.seconds(0, 3600);
  p.timeouts.cooldown = r.seconds(0, 120);
  std::vector<Knob> order = kTimeouts;
  std::shuffle(order.begin(), order.end(), r.engine());
  order.resize(static_cast<std::size_t>(r.between(0, 6)));
  p.timeouts.order = order;
  p.timeouts.floors.clear();
  for (const Knob knob : order) p.timeouts.floors[knob] = r.between(1, kernelDefault(knob));
  // shed: timeouts not in order (the loader refuses one in both)
  std::vector<Knob> rest = kTimeouts;
  std::erase_if(rest, [&](Knob k) { return std::find(order.begin(), order.end(), k) != order.end(); });
  std::shuffle(rest.begin(), rest.end(), r.engine());
  rest.resize(std::min(rest.size(), static_cast<std::size_t>(r.chance(0.3) ? 0 : r.between(1, 4))));
  p.timeouts.shed = rest;
  p.timeouts.shedCooldown = r.seconds(1, 60);
  for (const Knob knob : rest) p.timeouts.floors[knob] = r.between(1, kernelDefault(knob));
  return p;
}

KnobRef randomRef(Random& r, const Observation& obs) {
  const auto kind = r.between(0, 3);
  if (kind == 0) return KnobRef{kInitNetns, Knob::ConntrackMax};
  if (kind == 1) return KnobRef{kInitNetns, Knob::Buckets};
  const std::string netns = obs.netns.empty() || r.chance(0.1) ? r.pick(kNames) : r.pick(obs.netns).netns;
  return KnobRef{netns, r.pick(kTimeouts)};
}

Observation randomObservation(Random& r, const Policy& policy) {
  Observation obs;
  obs.now = kEpoch + r.seconds(0, 86'400);
  obs.max = r.chance(0.01) ? 0 : r.logBetween(1'024, 8 * 1024 * 1024);
  obs.buckets = r.chance(0.01) ? 0 : r.logBetween(1'024, 4 * 1024 * 1024);
  obs.baselineMax = r.chance(0.4) ? obs.max : r.logBetween(1'024, 8 * 1024 * 1024);
  obs.baselineBuckets = r.chance(0.4) ? obs.buckets : r.logBetween(1'024, 4 * 1024 * 1024);
  obs.entryBytes = r.chance(0.02) ? 0 : r.between(200, 1'000);
  obs.memTotalBytes = r.chance(0.02) ? 0 : r.logBetween(256LL << 20, 1LL << 40);
  std::vector<std::string> names = kNames;
  std::shuffle(names.begin(), names.end(), r.engine());
  names.resize(static_cast<std::size_t>(r.chance(0.02) ? 0 : r.between(1, 5)));
  for (const auto& name : names) {
    NetnsObservation ns;
    ns.netns = name;
    const double fill = r.chance(0.5) ? r.real(0.0, 1.1) : r.real(0.7, 1.0);
    ns.count = static_cast<std::int64_t>(fill * static_cast<double>(std::max<std::int64_t>(obs.max, 1'000)));
    ns.growthPerSec = r.chance(0.4) ? 0 : r.real(-2'000, 20'000);
    ns.dropsPerSec = r.chance(0.8) ? 0 : r.real(0.1, 500);
    ns.earlyDropsPerSec = r.chance(0.7) ? 0 : r.real(0.1, 500);
    ns.insertFailedPerSec = r.chance(0.9) ? 0 : r.real(0.1, 50);
    ns.chainTooLongPerSec = r.chance(0.85) ? 0 : r.real(0.1, 50);
    ns.demandPerSec = r.chance(0.5) ? 0 : r.real(0, 50'000);
    if (!r.chance(0.05)) {
      for (const Knob knob : kTimeouts) {
        if (r.chance(0.2)) continue;
        const std::int64_t baseline = r.chance(0.7) ? kernelDefault(knob) : r.between(1, 2 * kernelDefault(knob));
        ns.baselineTimeouts[knob] = baseline;
        ns.timeouts[knob] = r.chance(0.4) ? baseline : r.between(1, 2 * baseline);
      }
    }
    obs.netns.push_back(std::move(ns));
  }
  for (int i = 0, n = static_cast<int>(r.between(0, 2)); i < n; ++i) {
    if (r.chance(0.5)) obs.unwritable.insert(randomRef(r, obs));
  }
  std::int64_t watched = 0;
  for (const auto& ns : obs.netns) watched += ns.count;
  obs.totalEntries = r.chance(0.5) ? 0 : watched + r.logBetween(1, 4 * 1024 * 1024);
  obs.resizeNsPerEntry = r.real(20, 2'000);
  (void)policy;
  return obs;
}

History randomHistory(Random& r, const Observation& obs) {
  History h;
  for (int i = 0, n = static_cast<int>(r.between(0, 12)); i < n; ++i) {
    const bool recent = r.chance(0.5);
    h.changes.push_back(PastChange{obs.now - (recent ? r.seconds(0, 120) : r.seconds(0, 7'200)), randomRef(r, obs),
                                   r.between(1, 1'000'000), r.between(1, 1'000'000)});
  }
  std::sort(h.changes.begin(), h.changes.end(),
            [](const PastChange& a, const PastChange& b) { return a.time < b.time; });
  if (r.chance(0.1)) {
    const auto ref = r.chance(0.3) ? std::nullopt : std::optional<KnobRef>(randomRef(r, obs));
    h.holds.push_back(Hold{obs.now + r.seconds(-600, 600), ref});
  }
  if (r.chance(0.15)) h.external.insert(randomRef(r, obs));
  for (const auto& ns : obs.netns) {
    if (r.chance(0.5)) h.calmSince[ns.netns] = obs.now - r.seconds(0, 7'200);
  }
  return h;
}

bool held(const History& h, const KnobRef& ref, TimePoint now) {
  return std::any_of(h.holds.begin(), h.holds.end(),
                     [&](const Hold& hold) { return hold.until > now && (!hold.ref || *hold.ref == ref); });
}

// The smallest time since a change matching `match`; a large value when there is none.
template <class Match>
Duration sinceLast(const History& h, TimePoint now, Match match) {
  Duration least = Duration::max();
  for (const auto& c : h.changes) {
    if (match(c.ref)) least = std::min(least, std::chrono::duration_cast<Duration>(now - c.time));
  }
  return least;
}

// Some namespace reaches max, at the faster of its slope and its demand, before the first tick
// after the cooldown (README "Policy reference", [max] cooldown).
bool fullBeforeCooldownEnds(const Policy& p, const Observation& obs, Duration sinceLastRaise) {
  const double horizon = std::chrono::duration<double>(p.max.cooldown - sinceLastRaise + p.controller.interval).count();
  return std::any_of(obs.netns.begin(), obs.netns.end(), [&](const NetnsObservation& ns) {
    const double growth = std::max({0.0, ns.growthPerSec, ns.demandPerSec});
    return growth > 0 && static_cast<double>(ns.count) + growth * horizon >= static_cast<double>(obs.max);
  });
}

int changesInWindow(const History& h, const KnobRef& ref, TimePoint now, Duration window) {
  return static_cast<int>(std::count_if(h.changes.begin(), h.changes.end(),
                                        [&](const PastChange& c) { return c.ref == ref && c.time > now - window; }));
}

const NetnsObservation* findNetns(const Observation& obs, const std::string& name) {
  for (const auto& ns : obs.netns) {
    if (ns.netns == name) return &ns;
  }
  return nullptr;
}

// Returns every broken promise of one planned action, one line each.
// Every namespace may hold max entries: a raise to `to` lets them hold sum(min(to, count)) at
// least, plus the entries outside the watched ones; that must fit the memory budget.
bool raiseFitsBudget(const Policy& p, const Observation& obs, std::int64_t to) {
  const std::int64_t budget = memoryCapEntries(p, obs);
  if (budget <= 0 || to <= obs.baselineMax) return true;
  std::int64_t watched = 0;
  std::int64_t held = 0;
  for (const auto& ns : obs.netns) {
    watched += ns.count;
    held += std::min(to, ns.count);
  }
  return held + std::max<std::int64_t>(obs.totalEntries - watched, 0) <= budget;
}

// A resize's estimated stall is within max_stall, or it is an emergency the policy lets stall.
bool resizeStallAllowed(const Policy& p, const Observation& obs) {
  std::int64_t watched = 0;
  bool emergency = false;
  for (const auto& ns : obs.netns) {
    watched += ns.count;
    emergency = emergency || ns.chainTooLongPerSec > 0 || ns.insertFailedPerSec > 0;
  }
  const double stallMs = static_cast<double>(std::max(obs.totalEntries, watched)) * obs.resizeNsPerEntry / 1e6;
  return stallMs <= std::chrono::duration<double, std::milli>(p.hashsize.maxStall).count() ||
         (emergency && p.hashsize.emergencyMayStall);
}

std::vector<std::string> violations(const Policy& p, const Observation& obs, const History& h, const Action& a,
                                    const Plan& plan) {
  std::vector<std::string> out;
  auto expect = [&](bool ok, const char* promise) {
    if (!ok) out.emplace_back(promise);
  };
  expect(!a.because.empty() && !reasonText(a).empty(), "reason is empty");
  expect(obs.unwritable.count(a.ref) == 0, "acts on an unwritable knob");
  expect(h.external.count(a.ref) == 0, "acts on an externally changed knob");
  expect(!held(h, a.ref, obs.now), "acts on a held knob");
  expect(changesInWindow(h, a.ref, obs.now, p.controller.changeWindow) < p.controller.maxChanges,
         "acts past the change window limit");
  std::int64_t maxCount = 0;
  bool drops = false;
  for (const auto& ns : obs.netns) {
    maxCount = std::max(maxCount, ns.count);
    drops = drops || ns.dropsPerSec > 0 || ns.earlyDropsPerSec > 0;
  }
  const std::int64_t ceiling = effectiveCeiling(p, obs);
  const auto sameRef = [&](const KnobRef& ref) { return ref == a.ref; };

  switch (a.kind) {
    case ActionKind::RaiseMax: {
      expect(a.ref == KnobRef{kInitNetns, Knob::ConntrackMax}, "raise-max names another knob");
      expect(p.max.enabled, "raises max with [max] enabled = false");
      expect(a.from == obs.max, "raise-max from is not the current max");
      expect(a.to > a.from, "raise-max does not raise");
      expect(a.to <= ceiling || a.to == obs.max, "max above the effective ceiling");
      expect(ceiling >= obs.baselineMax, "effective ceiling below the baseline");
      // Whatever the baseline says, a raise stays within min(ceiling, memory budget), and reaches
      // the baseline unless that bound is below it (README Safety promise 3).
      const std::int64_t hardCap = std::min(p.max.ceiling, memoryCapEntries(p, obs));
      expect(a.to <= hardCap, "max raised above min(ceiling, memory budget)");
      expect(a.to >= maxCount + p.max.margin, "max below count + margin");
      expect(a.to >= std::min(obs.baselineMax, hardCap), "max below the baseline");
      expect(raiseFitsBudget(p, obs, a.to), "raise lets the namespaces together exceed the memory budget");
      expect(drops || sinceLast(h, obs.now, sameRef) >= p.max.cooldown ||
                 fullBeforeCooldownEnds(p, obs, sinceLast(h, obs.now, sameRef)),
             "raise-max inside its cooldown");
      break;
    }
    case ActionKind::ResizeBuckets:
      expect(a.ref == KnobRef{kInitNetns, Knob::Buckets}, "resize-buckets names another knob");
      expect(p.hashsize.mode != HashsizePolicy::Mode::Fixed, "resizes buckets in mode fixed");
      expect(resizeStallAllowed(p, obs), "resize whose estimated stall exceeds max_stall");
      expect(a.to <= std::max({p.hashsize.maxMemory / 8, a.from, obs.baselineBuckets}), "buckets above max_memory");
      expect(a.from == obs.buckets, "resize-buckets from is not the current buckets");
      expect(a.to > a.from, "buckets shrink");
      expect(a.to >= obs.baselineBuckets, "buckets below the baseline");
      expect(sinceLast(h, obs.now, sameRef) >= p.hashsize.minInterval, "resize inside min_interval");
      break;
    case ActionKind::ShortenTimeout:
    case ActionKind::RelaxTimeout: {
      const bool shorten = a.kind == ActionKind::ShortenTimeout;
      const auto* ns = findNetns(obs, a.ref.netns);
      expect(isTimeout(a.ref.knob), "timeout action on a non-timeout knob");
      if (!ns || !ns->timeouts.count(a.ref.knob)) {
        out.emplace_back("timeout action for an unobserved netns or timeout");
        break;
      }
      expect(a.from == ns->timeouts.at(a.ref.knob), "timeout from is not the current value");
      const auto& shed = p.timeouts.shed;
      const auto isShed = [&](Knob k) { return std::find(shed.begin(), shed.end(), k) != shed.end(); };
      const auto sameNetnsTimeout = [&](const KnobRef& ref) { return ref.netns == a.ref.netns && isTimeout(ref.knob); };
      const auto sameNetnsShed = [&](const KnobRef& ref) { return ref.netns == a.ref.netns && isShed(ref.knob); };
      const double fill = static_cast<double>(ns->count) / static_cast<double>(obs.max);
      if (shorten && isShed(a.ref.knob)) {
        expect(sinceLast(h, obs.now, sameNetnsShed) >= p.timeouts.shedCooldown, "shedding inside shed_cooldown");
        expect(a.to < a.from, "shedding does not shorten");
        expect(p.timeouts.floors.count(a.ref.knob) && a.to >= p.timeouts.floors.at(a.ref.knob),
               "shed timeout below its floor");
        const bool maxStuck = !p.max.enabled || obs.unwritable.count(KnobRef{kInitNetns, Knob::ConntrackMax}) ||
                              obs.max >= ceiling || ceiling < maxCount + p.max.margin ||
                              plan.mentions(Reason::MemoryBudget) || plan.mentions(Reason::BudgetBounded);
        const double growth = std::max({0.0, ns->growthPerSec, ns->demandPerSec});
        const double lookahead = std::chrono::duration<double>(p.max.lookahead).count();
        expect(ns->earlyDropsPerSec > 0 || (maxStuck && (fill >= p.timeouts.shortenAt.value || ns->dropsPerSec > 0)) ||
                   (growth > 0 && static_cast<double>(ns->count) + growth * lookahead >= static_cast<double>(ceiling)),
               "sheds without early drops, pressure at the ceiling or growth reaching it");
        break;
      }
      expect(sinceLast(h, obs.now, sameNetnsTimeout) >= p.timeouts.cooldown, "timeout step inside the netns cooldown");
      if (shorten) {
        expect(p.timeouts.mode == TimeoutsPolicy::Mode::Shorten, "shortens with [timeouts] mode = off");
        expect(a.to < a.from, "shorten does not shorten");
        expect(p.timeouts.floors.count(a.ref.knob) && a.to >= p.timeouts.floors.at(a.ref.knob),
               "timeout below its floor");
        expect(!p.max.enabled || obs.unwritable.count(KnobRef{kInitNetns, Knob::ConntrackMax}) || obs.max >= ceiling ||
                   ceiling < maxCount + p.max.margin || plan.mentions(Reason::MemoryBudget) ||
                   plan.mentions(Reason::BudgetBounded),
               "shortens while max can still be raised");
        expect(fill >= p.timeouts.shortenAt.value || ns->dropsPerSec > 0, "shortens without pressure");
      } else {
        expect(a.to > a.from, "relax does not relax");
        expect(ns->baselineTimeouts.count(a.ref.knob) && a.to <= ns->baselineTimeouts.at(a.ref.knob),
               "timeout relaxed above its baseline");
        const auto calm = h.calmSince.find(a.ref.netns);
        expect(calm != h.calmSince.end() && obs.now - calm->second >= p.timeouts.relaxAfter,
               "relaxes before relax_after of calm");
        expect(fill < p.timeouts.relaxBelow.value, "relaxes at or above relax_below");
      }
      break;
    }
  }
  return out;
}

std::vector<std::string> planViolations(const Policy& policy, const Plan& plan) {
  std::vector<std::string> out;
  const auto& shed = policy.timeouts.shed;
  // One shedding step shortens every shed timeout of a netns at once.
  const auto shedding = [&](const Action& a) {
    return a.kind == ActionKind::ShortenTimeout && std::find(shed.begin(), shed.end(), a.ref.knob) != shed.end();
  };
  auto rank = [](const Action& a) {
    return a.kind == ActionKind::RaiseMax ? 0 : a.kind == ActionKind::ResizeBuckets ? 1 : 2;
  };
  for (std::size_t i = 1; i < plan.actions.size(); ++i) {
    const auto& prev = plan.actions[i - 1];
    const auto& cur = plan.actions[i];
    const bool oneShedStep = shedding(prev) && shedding(cur) && prev.ref.netns == cur.ref.netns;
    if (rank(prev) > rank(cur) ||
        (rank(prev) == rank(cur) && !oneShedStep && (rank(cur) < 2 || prev.ref.netns >= cur.ref.netns))) {
      out.emplace_back("actions out of order, or two in one netns");
    }
  }
  return out;
}

bool samePlan(const Plan& a, const Plan& b) { return a.notes == b.notes && a.actions == b.actions; }

std::string describe(int round, const Policy& policy, const Observation& obs, const Action& a,
                     const std::string& what) {
  std::ostringstream s;
  s << "round " << round << ": " << what << ": " << actionKindName(a.kind) << " " << kernelName(a.ref.knob) << " in "
    << a.ref.netns << " " << a.from << " -> " << a.to << " (max " << obs.max << ", buckets " << obs.buckets
    << ", ceiling " << effectiveCeiling(policy, obs) << "): " << reasonText(a);
  return s.str();
}

}  // namespace

TEST_CASE("no planned action breaks a safety promise over 120,000 random observations, policies and histories") {
  Random r(kSeed);
  std::vector<std::string> broken;
  std::array<int, 5> planned{};
  int withNotes = 0;
  for (int round = 0; round < kRounds; ++round) {
    const Policy policy = randomPolicy(r);
    const Observation obs = randomObservation(r, policy);
    History history = randomHistory(r, obs);
    if (r.chance(0.3)) updateCalm(policy, obs, history);

    const Plan plan = decide(policy, obs, history);
    withNotes += plan.notes.empty() ? 0 : 1;
    for (const auto& action : plan.actions) {
      ++planned[static_cast<std::size_t>(action.kind)];
      for (const auto& what : violations(policy, obs, history, action, plan)) {
        if (broken.size() < 20) broken.push_back(describe(round, policy, obs, action, what));
      }
    }
    for (const auto& what : planViolations(policy, plan)) {
      if (broken.size() < 20) broken.push_back("round " + std::to_string(round) + ": " + what);
    }
    if (!samePlan(plan, decide(policy, obs, history)) && broken.size() < 20) {
      broken.push_back("round " + std::to_string(round) + ": the same input gave a different plan");
    }
  }
  for (const auto& line : broken) FAIL_CHECK(line);
  CHECK(broken.empty());
  // The generator must reach every rule, or the promises above are checked on nothing.
  CAPTURE(planned[0]);
  CAPTURE(planned[1]);
  CAPTURE(planned[2]);
  CAPTURE(planned[3]);
  CHECK(planned[static_cast<std::size_t>(ActionKind::RaiseMax)] > 1'000);
  CHECK(planned[static_cast<std::size_t>(ActionKind::ResizeBuckets)] > 1'000);
  CHECK(planned[static_cast<std::size_t>(ActionKind::ShortenTimeout)] > 1'000);
  CHECK(planned[static_cast<std::size_t>(ActionKind::RelaxTimeout)] > 1'000);
  CHECK(withNotes > 1'000);
  MESSAGE("planned raise ", planned[0], ", resize ", planned[1], ", shorten ", planned[2], ", relax ", planned[3],
          "; plans with notes ", withNotes);
}
