// SPDX-License-Identifier: Apache-2.0
#include "controller/estimator.h"

#include <chrono>
#include <cstdint>
#include <limits>

#include <doctest/doctest.h>

using namespace std::chrono_literals;
using ctpilot::controller::counterDelta;
using ctpilot::controller::estimateWindow;
using ctpilot::controller::Estimator;
using ctpilot::controller::Sample;
using ctpilot::controller::theilSenSlope;
using ctpilot::controller::windowSamples;
using ctpilot::policy::TimePoint;
using ctpilot::sysfs::CpuCounters;

namespace {

const TimePoint kT0{std::chrono::seconds(1'800'000'000)};

Sample at(double seconds, std::int64_t count, std::vector<CpuCounters> cpus = {}) {
  return Sample{
      kT0 + std::chrono::duration_cast<std::chrono::system_clock::duration>(std::chrono::duration<double>(seconds)),
      count, std::move(cpus)};
}

CpuCounters drops(std::uint32_t drop, std::uint32_t earlyDrop = 0, std::uint32_t insertFailed = 0,
                  std::uint32_t chainTooLong = 0) {
  CpuCounters c;
  c.drop = drop;
  c.earlyDrop = earlyDrop;
  c.insertFailed = insertFailed;
  c.chainTooLong = chainTooLong;
  return c;
}

}  // namespace

TEST_CASE("the growth rate is the slope of a steadily growing table") {
  std::deque<Sample> window;
  for (int i = 0; i < 10; ++i) window.push_back(at(i, 1000 + 250 * i));
  CHECK(theilSenSlope(window) == doctest::Approx(250));
}

TEST_CASE("one noisy sample does not swing the growth rate") {
  std::deque<Sample> window;
  for (int i = 0; i < 10; ++i) window.push_back(at(i, 1000 + 100 * i));
  window[5].count += 50'000;  // a garbage-collection burst or a misread
  CHECK(theilSenSlope(window) == doctest::Approx(100).epsilon(0.05));
  window[5].count -= 100'000;
  CHECK(theilSenSlope(window) == doctest::Approx(100).epsilon(0.05));
}

TEST_CASE("a shrinking table has a negative growth rate and no time to full") {
  std::deque<Sample> window;
  for (int i = 0; i < 5; ++i) window.push_back(at(2.0 * i, 10'000 - 400 * i));
  const auto estimate = estimateWindow(window, 20'000);
  CHECK(estimate.growthPerSec == doctest::Approx(-200));
  CHECK_FALSE(estimate.secondsToFull.has_value());
}

TEST_CASE("a one-sample window knows the count but no rates") {
  std::deque<Sample> window{at(0, 5000, {drops(7)})};
  const auto estimate = estimateWindow(window, 10'000);
  CHECK(estimate.samples == 1);
  CHECK(estimate.growthPerSec == 0);
  CHECK_FALSE(estimate.countersKnown);
  CHECK(estimate.dropsPerSec == 0);
  CHECK_FALSE(estimate.secondsToFull.has_value());
}

TEST_CASE("time to full divides the headroom by the growth rate") {
  std::deque<Sample> window;
  for (int i = 0; i < 4; ++i) window.push_back(at(i, 6000 + 100 * i));
  SUBCASE("growing: headroom / growth") {
    const auto estimate = estimateWindow(window, 10'000);
    REQUIRE(estimate.secondsToFull.has_value());
    CHECK(*estimate.secondsToFull == doctest::Approx((10'000.0 - 6300.0) / 100.0));
  }
  SUBCASE("already full: zero") {
    const auto estimate = estimateWindow(window, 6300);
    REQUIRE(estimate.secondsToFull.has_value());
    CHECK(*estimate.secondsToFull == 0);
  }
}

TEST_CASE("32-bit counters that wrap still give the right rate") {
  const struct {
    std::uint32_t before, after, delta;
  } rows[] = {
      {10, 15, 5},
      {std::numeric_limits<std::uint32_t>::max() - 2, 4, 7},  // wrapped
      {0, 0, 0},
      {std::numeric_limits<std::uint32_t>::max(), 0, 1},
  };
  for (const auto& row : rows) {
    CAPTURE(row.before);
    CAPTURE(row.after);
    CHECK(counterDelta(row.before, row.after) == row.delta);
  }

  std::deque<Sample> window{
      at(0, 100, {drops(std::numeric_limits<std::uint32_t>::max() - 9, 100, 1, 2), drops(5, 0, 0, 0)}),
      at(2, 100, {drops(10, 140, 3, 2), drops(25, 20, 0, 4)}),
  };
  const auto estimate = estimateWindow(window, 1000);
  REQUIRE(estimate.countersKnown);
  CHECK(estimate.dropsPerSec == doctest::Approx((20.0 + 20.0) / 2));  // 10 to wrap + 10 after, and 20
  CHECK(estimate.earlyDropsPerSec == doctest::Approx((40.0 + 20.0) / 2));
  CHECK(estimate.insertFailedPerSec == doctest::Approx(2.0 / 2));
  CHECK(estimate.chainTooLongPerSec == doctest::Approx(4.0 / 2));
}

TEST_CASE("a change in the number of CPUs resets the counter rates instead of inventing a burst") {
  std::deque<Sample> window{
      at(0, 100, {drops(1000), drops(1000)}),
      at(1, 100, {drops(1010), drops(1010), drops(0)}),
  };
  const auto estimate = estimateWindow(window, 1000);
  CHECK_FALSE(estimate.countersKnown);
  CHECK(estimate.dropsPerSec == 0);

  Estimator estimator(5);
  estimator.add("init", window[0]);
  estimator.add("init", window[1]);
  estimator.add("init", at(2, 100, {drops(1020), drops(1010), drops(3)}));
  const auto next = estimator.estimate("init", 1000);
  CHECK(next.countersKnown);
  CHECK(next.dropsPerSec == doctest::Approx(13));
}

TEST_CASE("counter rates use the newest interval, so they stop when the kernel stops dropping") {
  Estimator estimator(10);
  estimator.add("gw", at(0, 100, {drops(0)}));
  estimator.add("gw", at(1, 100, {drops(500)}));
  CHECK(estimator.estimate("gw", 1000).dropsPerSec == doctest::Approx(500));
  estimator.add("gw", at(2, 100, {drops(500)}));
  CHECK(estimator.estimate("gw", 1000).dropsPerSec == 0);
}

TEST_CASE("the estimator keeps a bounded window per namespace and forgets vanished ones") {
  Estimator estimator(3);
  for (int i = 0; i < 10; ++i) estimator.add("a", at(i, i < 7 ? 0 : 1000 * (i - 6)));
  // Only the last three samples (1000, 2000, 3000 at 7, 8, 9 s) remain.
  const auto a = estimator.estimate("a", 100'000);
  CHECK(a.samples == 3);
  CHECK(a.growthPerSec == doctest::Approx(1000));
  estimator.add("b", at(0, 5));
  CHECK(estimator.known().size() == 2);
  estimator.forget("a");
  CHECK(estimator.estimate("a", 100).samples == 0);
  CHECK(estimator.known() == std::vector<std::string>{"b"});
}

TEST_CASE("a clock that steps backwards starts the window over") {
  Estimator estimator(5);
  estimator.add("init", at(10, 100));
  estimator.add("init", at(11, 200));
  estimator.add("init", at(5, 300));
  CHECK(estimator.estimate("init", 1000).samples == 1);
  estimator.add("init", at(5, 400));  // same instant: replaces
  CHECK(estimator.estimate("init", 1000).samples == 1);
}

TEST_CASE("the window spans a quarter of the lookahead, within bounds") {
  ctpilot::policy::Policy policy;
  const struct {
    std::chrono::milliseconds interval, lookahead;
    std::size_t samples;
  } rows[] = {
      {1s, 60s, 16},     // 15 s of samples
      {100ms, 60s, 30},  // capped
      {10s, 60s, 3},     // at least three
      {1s, 8s, 3},
  };
  for (const auto& row : rows) {
    CAPTURE(row.interval.count());
    CAPTURE(row.lookahead.count());
    policy.controller.interval = row.interval;
    policy.controller.fastInterval = row.interval;  // one pace
    policy.max.lookahead = row.lookahead;
    CHECK(windowSamples(policy) == row.samples);
  }
  // Two paces: as many samples as the fast one needs, never more time than the span.
  policy.controller.interval = 1s;
  policy.controller.fastInterval = 100ms;
  policy.max.lookahead = 60s;
  CHECK(windowSamples(policy) == 30);
  CHECK(ctpilot::controller::windowSpan(policy) == 15s);
}

TEST_CASE("a window of mixed paces keeps at most its span of time, and always the fewest samples") {
  Estimator estimator(30, 15s);
  for (int s = 0; s <= 40; ++s) estimator.add("init", at(s, 100 + s));  // one per second
  CHECK(estimator.estimate("init", 1000).samples == 16);                // 25..40 s: 15 s
  for (int i = 1; i <= 10; ++i) {                                       // then ten at 100 ms
    estimator.add("init", at(40 + i / 10.0, 140 + i));
  }
  CHECK(estimator.estimate("init", 1000).samples == 25);  // 26..41 s
  for (int i = 11; i <= 30; ++i) estimator.add("init", at(40 + i / 10.0, 140 + i));
  CHECK(estimator.estimate("init", 1000).samples == 30);  // capped in samples: the newest 3 s
  Estimator sparse(30, 15s);
  for (int s = 0; s <= 100; s += 60) sparse.add("init", at(s, 100));
  CHECK(sparse.estimate("init", 1000).samples == 2);  // 60 s apart, but kept: fewer than the minimum
}

TEST_CASE("demand adds the count's change and what the kernel refused or evicted in the newest interval") {
  // A full table: the count moves by 4 in the newest second, while 9,000 flows were dropped and
  // 1,000 unassured entries evicted for new ones (the kernel's insert counter reads 0 on 6.x).
  std::deque<Sample> window{
      at(0, 4'000, {drops(0, 0)}),
      at(1, 4'092, {drops(100, 50)}),
      at(2, 4'096, {drops(9'100, 1'050)}),
  };
  const auto estimate = estimateWindow(window, 4'096);
  CHECK(estimate.demandPerSec == doctest::Approx(4.0 + 9'000 + 1'000));
  CHECK(estimate.growthPerSec < 100);  // the censored slope alone would miss the surge

  SUBCASE("a shrinking table with nothing refused has no demand") {
    std::deque<Sample> shrinking{at(0, 4'000, {drops(7)}), at(1, 3'000, {drops(7)})};
    CHECK(estimateWindow(shrinking, 4'096).demandPerSec == 0);
  }
}
