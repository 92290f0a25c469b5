// SPDX-License-Identifier: Apache-2.0
// The reason-code table: stable snake_case codes (journal `cause`, metric label) and fact keys.

#include <doctest/doctest.h>

#include <fstream>
#include <set>
#include <sstream>
#include <string>

#include "policy/observation.h"
#include "policy/reason.h"

using namespace ctpilot::policy;

namespace {

bool snakeCase(std::string_view s) {
  if (s.empty() || s.front() == '_' || s.back() == '_') return false;
  for (const char c : s) {
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_')) return false;
  }
  return true;
}

}  // namespace

TEST_CASE("every reason code and fact key is snake_case and names one row") {
  std::set<std::string_view> names;
  const auto distinctSnakeCase = [&](std::string_view name) {
    CAPTURE(name);
    CHECK(snakeCase(name));
    CHECK(names.insert(name).second);
  };
  for (int i = 0; i < kReasonCount; ++i) distinctSnakeCase(reasonCode(static_cast<Reason>(i)));
  names.clear();
  for (int i = 0; i < kFactCount; ++i) distinctSnakeCase(factKey(static_cast<Fact>(i)));
  CHECK(reasonCode(Reason::MemoryBudget) == "memory_budget");
  CHECK(factKey(Fact::Growth) == "growth_per_s");
}

TEST_CASE("notes that differ only in their numbers are the same news; another reason or knob is not") {
  const KnobRef max{kInitNetns, Knob::ConntrackMax};
  Cause hold{Reason::Hold, "", std::nullopt, {}, {}};
  hold.with(Fact::Remaining, 59.9);
  const Note first{ActionKind::RaiseMax, max, {}, hold, {}};
  Note later = first;
  later.why.facts = {{Fact::Remaining, 3}};
  CHECK_FALSE(first == later);
  CHECK(noteKey(first) == noteKey(later));

  Note external = first;
  external.why = Cause{Reason::External, "", std::nullopt, {}, {}};
  CHECK(noteKey(first) != noteKey(external));
  Note buckets = first;
  buckets.ref = KnobRef{kInitNetns, Knob::Buckets};
  CHECK(noteKey(first) != noteKey(buckets));
}

TEST_CASE("causes join in one sentence with each code's own words") {
  Cause trigger{Reason::ShortenAt, "gw", std::nullopt, {}, {}};
  trigger.with(Fact::Fill, 0.95).with(Fact::ShortenAt, 0.9);
  const Cause limit{Reason::MaxUnwritable, "", std::nullopt, {}, {}};
  Cause step{Reason::ShortenStep, "", Knob::UdpTimeout, {}, {}};
  step.with(Fact::From, 30).with(Fact::Factor, 0.5).with(Fact::To, 15).with(Fact::Floor, 10);
  CHECK(causesText({trigger, limit, step}) ==
        "fill 0.95 >= shorten_at 0.90 in gw and nf_conntrack_max is not writable here: udp_timeout 30s x 0.5 = 15s "
        "(floor 10s)");
}

TEST_CASE("the README lists every reason code, where it documents the journal's cause") {
  std::ifstream in(std::string(CTPILOT_SOURCE_DIR) + "/README.md");
  REQUIRE(in.good());
  std::stringstream text;
  text << in.rdbuf();
  const std::string readme = text.str();
  const auto section = readme.find("**`cause`**");
  REQUIRE(section != std::string::npos);
  const auto end = readme.find("\n### ", section);
  const std::string codes = readme.substr(section, end - section);
  for (int i = 0; i < kReasonCount; ++i) {
    const std::string code = "`" + std::string(reasonCode(static_cast<Reason>(i))) + "`";
    CAPTURE(code);
    CHECK(codes.find(code) != std::string::npos);
  }
}
