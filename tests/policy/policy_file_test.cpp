// SPDX-License-Identifier: Apache-2.0
#include <doctest/doctest.h>

#include <sys/stat.h>
#include <unistd.h>
#include <algorithm>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "policy/policy_file.h"
#include "policy/units.h"

using namespace ctpilot::policy;
namespace fs = std::filesystem;

namespace {

// A complete policy with a comment after every value, as operators and config management write them.
constexpr const char* kCommentedExample = R"([controller]
interval = 1s            # sampling period
netns = init             # init | all | comma-separated names from /run/netns
dry_run = false

[max]
ceiling = 4M             # never raise nf_conntrack_max above this
memory_budget = 25%      # ...nor above what this share of RAM can hold (entry size measured)
high_water = 80%         # raise when fill reaches this...
lookahead = 60s          # ...or is predicted to within this time at the current growth rate
target_fill = 50%        # after a raise, fill should be about this
cooldown = 10s

[hashsize]
mode = follow            # follow | fixed
entries_per_bucket = 4   # keep nf_conntrack_max / buckets near this
min_interval = 10m       # a resize rehashes the whole table: do it rarely

[timeouts]
mode = shorten           # shorten | off
shorten_at = 90%         # only when max is at its ceiling and fill is at least this
factor = 0.5             # each step multiplies one timeout by this
relax_below = 60%        # restore toward the original values when fill stays under this...
relax_after = 15m        # ...for this long
order = tcp_timeout_time_wait, tcp_timeout_close_wait, tcp_timeout_fin_wait, udp_timeout_stream, tcp_timeout_established

[timeout_floors]         # never go below these
tcp_timeout_time_wait = 10s
tcp_timeout_close_wait = 10s
tcp_timeout_fin_wait = 10s
udp_timeout_stream = 30s
tcp_timeout_established = 1h
)";

std::string problemsText(const PolicyLoad& load) {
  std::string out;
  for (const auto& problem : load.problems) out += problem.str() + "\n";
  return out;
}

bool hasProblem(const PolicyLoad& load, int line, const std::string& substring) {
  return std::any_of(load.problems.begin(), load.problems.end(), [&](const PolicyProblem& p) {
    return p.line == line && p.message.find(substring) != std::string::npos;
  });
}

std::string readFile(const fs::path& path) {
  std::ifstream in(path);
  std::stringstream buffer;
  buffer << in.rdbuf();
  return buffer.str();
}

std::vector<fs::path> filesIn(const fs::path& dir) {
  std::vector<fs::path> files;
  for (const auto& entry : fs::directory_iterator(dir)) {
    if (entry.path().extension() == ".conf") files.push_back(entry.path());
  }
  std::sort(files.begin(), files.end());
  return files;
}

const fs::path kSourceDir{CTPILOT_SOURCE_DIR};

}  // namespace

TEST_CASE("an empty file gives the built-in policy") {
  for (const std::string text : {"", "\n\n", "# only a comment\n; and another\n", "[max]\n[timeouts]\n"}) {
    CAPTURE(text);
    const auto load = parsePolicy(text, "p.conf");
    CHECK_MESSAGE(load.ok(), problemsText(load));
    CHECK(load.policy == Policy{});
  }
}

TEST_CASE("the documented example policy parses, inline comments included") {
  const auto load = parsePolicy(kCommentedExample, "policy.conf");
  REQUIRE_MESSAGE(load.ok(), problemsText(load));
  Policy expected;
  expected.timeouts.mode = TimeoutsPolicy::Mode::Shorten;
  expected.max.highWater = Ratio{0.80};  // the example writes 80%; the built-in default is 70%
  expected.hashsize.mode = HashsizePolicy::Mode::Follow;
  expected.controller.netns.mode = NetnsSelector::Mode::Init;
  CHECK(load.policy == expected);
}

TEST_CASE("every key is read into the policy") {
  const auto load = parsePolicy(R"([controller]
interval = 500ms
netns = init, router-1, vrf.blue
dry_run = yes
rollback_on_exit = on
max_changes = 3
change_window = 1h

[max]
enabled = false
ceiling = 256k
memory_budget = 10%
high_water = 0.9
lookahead = 2m
target_fill = 60%
cooldown = 30s
margin = 4k

[hashsize]
mode = fixed
entries_per_bucket = 8
min_interval = 1d

[timeouts]
mode = shorten
shorten_at = 95%
factor = 0.25
relax_below = 0.5
relax_after = 30m
cooldown = 1m
order = udp_timeout, nf_conntrack_tcp_timeout_time_wait

[timeout_floors]
udp_timeout = 5s
tcp_timeout_time_wait = 20s
)",
                                "p.conf");
  REQUIRE_MESSAGE(load.ok(), problemsText(load));
  const auto& p = load.policy;
  CHECK(p.controller.interval == 500ms);
  CHECK(p.controller.netns.mode == NetnsSelector::Mode::Named);
  CHECK(p.controller.netns.names == std::vector<std::string>{"init", "router-1", "vrf.blue"});
  CHECK(p.controller.dryRun);
  CHECK(p.controller.rollbackOnExit);
  CHECK(p.controller.maxChanges == 3);
  CHECK(p.controller.changeWindow == 1h);
  CHECK_FALSE(p.max.enabled);
  CHECK(p.max.ceiling == 262'144);
  CHECK(p.max.memoryBudget.value == doctest::Approx(0.10));
  CHECK(p.max.highWater.value == doctest::Approx(0.90));
  CHECK(p.max.lookahead == 2min);
  CHECK(p.max.targetFill.value == doctest::Approx(0.60));
  CHECK(p.max.cooldown == 30s);
  CHECK(p.max.margin == 4096);
  CHECK(p.hashsize.mode == HashsizePolicy::Mode::Fixed);
  CHECK(p.hashsize.entriesPerBucket == 8);
  CHECK(p.hashsize.minInterval == 24h);
  CHECK(p.timeouts.mode == TimeoutsPolicy::Mode::Shorten);
  CHECK(p.timeouts.shortenAt.value == doctest::Approx(0.95));
  CHECK(p.timeouts.factor == doctest::Approx(0.25));
  CHECK(p.timeouts.relaxBelow.value == doctest::Approx(0.5));
  CHECK(p.timeouts.relaxAfter == 30min);
  CHECK(p.timeouts.cooldown == 1min);
  CHECK(p.timeouts.order == std::vector<Knob>{Knob::UdpTimeout, Knob::TcpTimeoutTimeWait});
  CHECK(p.timeouts.floors.at(Knob::UdpTimeout) == 5);
  CHECK(p.timeouts.floors.at(Knob::TcpTimeoutTimeWait) == 20);
}

TEST_CASE("keys the file leaves out keep their defaults") {
  const auto load = parsePolicy("[max]\nceiling = 1M\n[timeout_floors]\ntcp_timeout_fin_wait = 30s\n", "p.conf");
  REQUIRE_MESSAGE(load.ok(), problemsText(load));
  Policy expected;
  expected.max.ceiling = 1024 * 1024;
  expected.timeouts.floors[Knob::TcpTimeoutFinWait] = 30;
  CHECK(load.policy == expected);
  SUBCASE("a floor given for one timeout keeps the default floors of the others") {
    CHECK(load.policy.timeouts.floors.at(Knob::TcpTimeoutTimeWait) == 10);
    CHECK(load.policy.timeouts.floors.at(Knob::TcpTimeoutEstablished) == 3600);
    CHECK(load.policy.timeouts.floors.size() == Policy{}.timeouts.floors.size());
  }
}

TEST_CASE("values are read whatever the layout: comments, spacing, CRLF, byte-order mark") {
  struct Row {
    std::string name;
    std::string text;
  };
  const Row rows[] = {
      {"hash comment at the end of a line", "[max]\nceiling = 1M # a comment\n"},
      {"semicolon comment at the end of a line", "[max]\nceiling = 1M ; a comment\n"},
      {"comment after a section header", "[max] # nf_conntrack_max\nceiling = 1M\n"},
      {"no spaces around =", "[max]\nceiling=1M\n"},
      {"tabs and spaces", "\t[ max ]\t\n\t ceiling\t=\t1M\t\n"},
      {"CRLF line ends", "[max]\r\nceiling = 1M\r\n"},
      {"byte-order mark", "\xEF\xBB\xBF[max]\nceiling = 1M\n"},
      {"no newline at the end", "[max]\nceiling = 1M"},
      {"a carriage return before the =", "[max]\nceiling\r = 1M\r\r\n"},
      {"a section header given twice", "[max]\nhigh_water = 80%\n[controller]\n[max]\nceiling = 1M\n"},
  };
  for (const auto& row : rows) {
    CAPTURE(row.name);
    const auto load = parsePolicy(row.text, "p.conf");
    CHECK_MESSAGE(load.ok(), problemsText(load));
    CHECK(load.policy.max.ceiling == 1024 * 1024);
  }
}

TEST_CASE("booleans are true, false, yes, no, on or off") {
  for (const auto& row : std::vector<std::pair<std::string, bool>>{
           {"true", true}, {"yes", true}, {"on", true}, {"false", false}, {"no", false}, {"off", false}}) {
    const std::string& text = row.first;
    const bool value = row.second;
    CAPTURE(text);
    const auto load = parsePolicy("[controller]\ndry_run = " + text + "\n", "p.conf");
    REQUIRE(load.ok());
    CHECK(load.policy.controller.dryRun == value);
  }
}

TEST_CASE("netns is init, all, or a list of plain names") {
  SUBCASE("init") {
    const auto load = parsePolicy("[controller]\nnetns = init\n", "p.conf");
    REQUIRE(load.ok());
    CHECK(load.policy.controller.netns == NetnsSelector{NetnsSelector::Mode::Init, {}});
  }
  SUBCASE("all") {
    const auto load = parsePolicy("[controller]\nnetns = all\n", "p.conf");
    REQUIRE(load.ok());
    CHECK(load.policy.controller.netns == NetnsSelector{NetnsSelector::Mode::All, {}});
  }
  SUBCASE("one named namespace") {
    const auto load = parsePolicy("[controller]\nnetns = router\n", "p.conf");
    REQUIRE(load.ok());
    CHECK(load.policy.controller.netns == NetnsSelector{NetnsSelector::Mode::Named, {"router"}});
  }
  SUBCASE("a name of 255 characters is fine, 256 is not") {
    CHECK(parsePolicy("[controller]\nnetns = " + std::string(255, 'n') + "\n", "p.conf").ok());
    CHECK(hasProblem(parsePolicy("[controller]\nnetns = " + std::string(256, 'n') + "\n", "p.conf"), 2,
                     "not a plain namespace name"));
  }
}

TEST_CASE("each kind of problem is reported at its line with a message that says what is allowed") {
  struct Row {
    std::string name;
    std::string text;
    int line;
    std::string message;
  };
  const Row rows[] = {
      {"bad count", "[max]\n\nceiling = 4X\n", 3, "[max] ceiling: \"4X\" is not a count (examples: 262144, 256k, 4M)"},
      {"count too small", "[max]\nceiling = 512\n", 2,
       "[max] ceiling: \"512\" is out of range (allowed: 1024 to 2147483647)"},
      {"count above the kernel's int", "[max]\nceiling = 2G\n", 2, "out of range (allowed: 1024 to 2147483647)"},
      {"count that overflows", "[max]\nceiling = 99999999999999999999\n", 2, "out of range"},
      {"empty value", "[max]\nceiling =\n", 2, "[max] ceiling: no value; expected a count"},
      {"duration without unit", "[controller]\ninterval = 5\n", 2,
       "[controller] interval: \"5\" is not a duration (examples: 500ms, 30s, 5m, 2h, 5d)"},
      {"interval too short", "[controller]\ninterval = 10ms\n", 2, "out of range (allowed: 100ms to 1h)"},
      {"interval too long", "[controller]\ninterval = 2h\n", 2, "out of range (allowed: 100ms to 1h)"},
      {"bad ratio", "[max]\nhigh_water = high\n", 2, "[max] high_water: \"high\" is not a ratio (examples: 80%, 0.8)"},
      {"ratio without percent sign", "[max]\nhigh_water = 80\n", 2,
       "[max] high_water: \"80\" is out of range (allowed: 10% to 99%); write 80% for a percentage"},
      {"memory budget too large", "[max]\nmemory_budget = 90%\n", 2, "out of range (allowed: 0.01% to 75%)"},
      {"high water too high", "[max]\nhigh_water = 100%\n", 2, "out of range (allowed: 10% to 99%)"},
      {"target fill too low", "[max]\ntarget_fill = 5%\n", 2, "out of range (allowed: 10% to 95%)"},
      {"factor of 1", "[timeouts]\nfactor = 1\n", 2, "[timeouts] factor: \"1\" is out of range (allowed: 0.1 to 0.95"},
      {"factor of 0", "[timeouts]\nfactor = 0\n", 2, "out of range"},
      {"bad boolean", "[controller]\ndry_run = maybe\n", 2,
       "\"maybe\" is not a boolean (allowed: true, false, yes, no, on, off)"},
      {"bad mode", "[hashsize]\nmode = auto\n", 2,
       "[hashsize] mode: \"auto\" is not a mode (allowed: presize, follow, fixed)"},
      {"entries per bucket too high", "[hashsize]\nentries_per_bucket = 100\n", 2, "out of range (allowed: 1 to 64)"},
      {"unknown section", "[maxx]\nceiling = 1M\n", 1, "[maxx]: unknown section; did you mean [max]?"},
      {"unknown key with a typo", "[max]\ncelling = 1M\n", 2, "[max] celling: unknown key; did you mean ceiling?"},
      {"key in the wrong section", "[controller]\nceiling = 1M\n", 2,
       "[controller] ceiling: unknown key in [controller]; ceiling belongs in [max]"},
      {"unknown key listing the known ones", "[hashsize]\nbuckets = 1M\n", 2,
       "unknown key (keys in [hashsize]: mode, entries_per_bucket, min_interval, max_memory, max_stall, "
       "emergency_may_stall)"},
      {"duplicate key", "[max]\nceiling = 1M\n\nceiling = 2M\n", 4,
       "[max] ceiling: duplicate key; first set on line 2"},
      {"duplicate key across a reopened section", "[max]\ncooldown = 5s\n[timeouts]\n[max]\ncooldown = 6s\n", 5,
       "duplicate key; first set on line 2"},
      {"key before any section", "\ninterval = 1s\n", 2,
       "interval: key outside any section; put it under [controller]"},
      {"line without =", "[max]\nceiling 1M\n", 2, "\"ceiling 1M\" is neither \"key = value\" nor \"[section]\""},
      {"unclosed section header", "[max\n", 1, "\"[max\" is not a section header"},
      {"missing key", "[max]\n= 1M\n", 2, "missing key before \"=\""},
      {"target fill at high water", "[max]\nhigh_water = 70%\ntarget_fill = 70%\n", 3,
       "[max] target_fill: 70% must be below high_water (70%)"},
      {"high water under the default target fill", "[max]\nhigh_water = 40%\n", 2,
       "[max] high_water: 40% must be above target_fill (50%)"},
      {"relax below above shorten at", "[timeouts]\nshorten_at = 70%\nrelax_below = 80%\n", 3,
       "[timeouts] relax_below: 80% must be below shorten_at (70%)"},
      {"margin at the ceiling", "[max]\nceiling = 1k\nmargin = 1k\n", 3, "[max] margin: 1k must be below ceiling (1k)"},
      {"fast interval above interval", "[controller]\ninterval = 1s\nfast_interval = 2s\n", 3,
       "[controller] fast_interval: 2s must not be above interval (1s)"},
      {"fast interval above a shortened interval", "[controller]\ninterval = 100ms\nfast_interval = 200ms\n", 3,
       "must not be above interval (100ms)"},
      {"fast fill of 100%", "[controller]\nfast_fill = 100%\n", 2, "out of range (allowed: 1% to 99%)"},
      {"shed timeout without a floor", "[timeouts]\nshed = icmp_timeout\n", 2,
       "[timeouts] shed: icmp_timeout has no floor; add \"icmp_timeout = <duration>\" to [timeout_floors]"},
      {"shed of a knob that is not a timeout", "[timeouts]\nshed = nf_conntrack_max\n", 2,
       "is not a timeout; shed lists timeouts such as udp_timeout"},
      {"shed cooldown too short", "[timeouts]\nshed_cooldown = 500ms\n", 2, "out of range (allowed: 1s to 1h)"},
      {"floor above the kernel default", "[timeout_floors]\ntcp_timeout_time_wait = 5m\n", 2,
       "[timeout_floors] tcp_timeout_time_wait: \"5m\" is above the kernel default 2m"},
      {"floor under one second", "[timeout_floors]\ntcp_timeout_time_wait = 500ms\n", 2, "not whole seconds"},
      {"floor of zero", "[timeout_floors]\ntcp_timeout_time_wait = 0s\n", 2, "is below 1s"},
      {"floor for a knob that is not a timeout", "[timeout_floors]\nnf_conntrack_max = 1s\n", 2,
       "[timeout_floors] nf_conntrack_max: not a timeout"},
      {"floor for an unknown timeout", "[timeout_floors]\ntcp_timeout_time_wiat = 10s\n", 2,
       "\"tcp_timeout_time_wiat\" is not a conntrack timeout; did you mean tcp_timeout_time_wait?"},
      {"same floor twice under two names",
       "[timeout_floors]\ntcp_timeout_fin_wait = 10s\nnf_conntrack_tcp_timeout_fin_wait = 20s\n", 3,
       "duplicate floor for tcp_timeout_fin_wait; first set on line 2"},
      {"order with an unknown name", "[timeouts]\norder = tcp_timeout_foo\n", 2,
       "\"tcp_timeout_foo\" is not a conntrack timeout"},
      {"order with a knob that is not a timeout", "[timeouts]\norder = nf_conntrack_buckets\n", 2,
       "\"nf_conntrack_buckets\" is not a timeout"},
      {"order with a repeated timeout", "[timeouts]\norder = udp_timeout_stream, udp_timeout_stream\n", 2,
       "\"udp_timeout_stream\" is listed twice"},
      {"order with a timeout that has no floor", "[timeouts]\norder = icmp_timeout\n", 2,
       "[timeouts] order: icmp_timeout has no floor; add \"icmp_timeout = <duration>\" to [timeout_floors]"},
      {"empty order while shortening", "[timeouts]\nmode = shorten\norder =\n", 3, "empty while mode = shorten"},
      {"netns with a slash", "[controller]\nnetns = a/b\n", 2, "\"a/b\" is not a plain namespace name"},
      {"netns dot-dot", "[controller]\nnetns = ..\n", 2, "\"..\" is not a plain namespace name"},
      {"netns mixing all with names", "[controller]\nnetns = all, router\n", 2,
       "\"all\" cannot be combined with names"},
      {"netns listed twice", "[controller]\nnetns = r1, r1\n", 2, "\"r1\" is listed twice"},
      {"netns with an empty name", "[controller]\nnetns = r1,,r2\n", 2, "empty name"},
  };
  for (const auto& row : rows) {
    CAPTURE(row.name);
    const auto load = parsePolicy(row.text, "policy.conf");
    CAPTURE(problemsText(load));
    CHECK(hasProblem(load, row.line, row.message));
  }
}

TEST_CASE("the ends of every range are accepted and one step beyond is refused") {
  struct Row {
    std::string section;
    std::string key;
    std::string lowest;
    std::string belowLowest;
    std::string highest;
    std::string aboveHighest;
    std::string otherKeys = {};  // lines after the key, to keep its pair consistent
  };
  const Row rows[] = {
      {"controller", "interval", "100ms", "99ms", "1h", "3600001ms"},
      {"controller", "max_changes", "1", "0", "1000", "1001"},
      {"controller", "change_window", "1m", "59s", "1d", "86401s"},
      {"max", "ceiling", "1024", "1023", "2147483647", "2147483648", "margin = 0\n"},
      {"max", "memory_budget", "0.01%", "0.009%", "75%", "75.1%"},
      {"max", "high_water", "51%", "", "99%", "99.5%"},
      {"max", "lookahead", "0s", "", "1h", "61m"},
      {"max", "target_fill", "10%", "9%", "79%", "", "high_water = 80%\n"},
      {"max", "cooldown", "1s", "999ms", "1h", "3601s"},
      {"max", "margin", "0", "", "1M", "1048577"},
      {"hashsize", "entries_per_bucket", "1", "0", "64", "65"},
      {"hashsize", "min_interval", "1m", "59s", "7d", "169h"},
      {"timeouts", "shorten_at", "61%", "", "99%", "100%"},
      {"timeouts", "factor", "0.1", "0.09", "0.95", "0.96"},
      {"timeouts", "relax_below", "5%", "4%", "89%", ""},
      {"timeouts", "relax_after", "1m", "59s", "1d", "1441m"},
      {"timeouts", "cooldown", "1s", "999ms", "1h", "61m"},
      {"timeout_floors", "tcp_timeout_time_wait", "1s", "0s", "120s", "121s"},
      {"timeout_floors", "tcp_timeout_established", "1s", "999ms", "5d", "432001s"},
  };
  for (const auto& row : rows) {
    CAPTURE(row.key);
    for (const auto& value : {row.lowest, row.highest}) {
      CAPTURE(value);
      const auto load =
          parsePolicy("[" + row.section + "]\n" + row.key + " = " + value + "\n" + row.otherKeys, "p.conf");
      CHECK_MESSAGE(load.ok(), problemsText(load));
    }
    for (const auto& value : {row.belowLowest, row.aboveHighest}) {
      if (value.empty()) continue;  // the end is set by a pair check instead, tested above
      CAPTURE(value);
      const auto load =
          parsePolicy("[" + row.section + "]\n" + row.key + " = " + value + "\n" + row.otherKeys, "p.conf");
      CHECK(hasProblem(load, 2, "[" + row.section + "] " + row.key + ": \"" + value + "\""));
    }
  }
}

TEST_CASE("every problem in a file is reported, in line order, not just the first") {
  const auto load = parsePolicy(R"([controller]
interval = 5
dry_run = perhaps
[max]
ceiling = 4X
memory_budget = 80%
[bogus]
key = value
[timeouts]
factor = 2
)",
                                "policy.conf");
  CHECK(problemsText(load) ==
        "policy.conf:2: [controller] interval: \"5\" is not a duration (examples: 500ms, 30s, 5m, 2h, 5d)\n"
        "policy.conf:3: [controller] dry_run: \"perhaps\" is not a boolean (allowed: true, false, yes, no, on, off)\n"
        "policy.conf:5: [max] ceiling: \"4X\" is not a count (examples: 262144, 256k, 4M)\n"
        "policy.conf:6: [max] memory_budget: \"80%\" is out of range (allowed: 0.01% to 75%)\n"
        "policy.conf:7: [bogus]: unknown section (sections: [controller], [max], [hashsize], [timeouts], "
        "[timeout_floors], [metrics])\n"
        "policy.conf:10: [timeouts] factor: \"2\" is out of range (allowed: 0.1 to 0.95; each step multiplies a "
        "timeout by it)\n");
}

TEST_CASE("a value already reported as bad is not reported again as a contradiction") {
  const auto load = parsePolicy("[max]\ntarget_fill = junk\nhigh_water = 40%\n", "policy.conf");
  CHECK(problemsText(load) == "policy.conf:2: [max] target_fill: \"junk\" is not a ratio (examples: 80%, 0.8)\n");
}

TEST_CASE("a contradiction is reported at the line of the key the file sets") {
  SUBCASE("only ceiling set, at the default margin") {
    const auto load = parsePolicy("[max]\nceiling = 1k\n", "policy.conf");
    CHECK(problemsText(load) == "policy.conf:2: [max] ceiling: 1k must be above margin (1k)\n");
  }
  SUBCASE("both set: the later line") {
    const auto load = parsePolicy("[timeouts]\nrelax_below = 80%\nshorten_at = 70%\n", "policy.conf");
    CHECK(hasProblem(load, 3, "[timeouts] shorten_at: 70% must be above relax_below (80%)"));
    CHECK(load.problems.size() == 1);
  }
}

TEST_CASE("a problem prints as FILE:LINE: message") {
  CHECK(PolicyProblem{"policy.conf", 14, "[max] ceiling: bad"}.str() == "policy.conf:14: [max] ceiling: bad");
}

TEST_CASE("an unreadable policy file is one problem at line 0 that says why") {
  const auto dir = fs::temp_directory_path() / ("ctpilot-policy-test-" + std::to_string(::getpid()));
  fs::create_directories(dir);
  SUBCASE("missing file") {
    const auto load = loadPolicyFile((dir / "missing.conf").string());
    REQUIRE(load.problems.size() == 1);
    CHECK(load.problems[0].line == 0);
    CHECK(load.problems[0].message == "cannot read policy: No such file or directory");
  }
  SUBCASE("a directory") {
    const auto load = loadPolicyFile(dir.string());
    REQUIRE(load.problems.size() == 1);
    CHECK(load.problems[0].str() == dir.string() + ":0: cannot read policy: not a regular file (it is a directory)");
  }
  SUBCASE("a FIFO is refused at once, never waited on (README Safety promise 13)") {
    const auto fifo = dir / "policy.fifo";
    fs::remove(fifo);
    REQUIRE(::mkfifo(fifo.c_str(), 0600) == 0);
    const auto load = loadPolicyFile(fifo.string());
    REQUIRE(load.problems.size() == 1);
    CHECK(load.problems[0].str() == fifo.string() + ":0: cannot read policy: not a regular file (it is a FIFO)");
    fs::remove(fifo);
  }
  SUBCASE("a file beyond 1 MiB is not a policy") {
    const auto big = dir / "big.conf";
    std::ofstream(big) << std::string((1 << 20) + 1, '#');
    const auto load = loadPolicyFile(big.string());
    REQUIRE(load.problems.size() == 1);
    CHECK(load.problems[0].message == "cannot read policy: larger than 1048576 bytes; is this the right file?");
    fs::remove(big);
  }
  SUBCASE("a readable file is parsed and names itself in problems") {
    const auto path = dir / "p.conf";
    std::ofstream(path) << "[max]\nceiling = 4X\n";
    const auto load = loadPolicyFile(path.string());
    REQUIRE(load.problems.size() == 1);
    CHECK(load.problems[0].file == path.string());
    CHECK(load.problems[0].line == 2);
  }
  fs::remove_all(dir);
}

TEST_CASE("formatPolicy writes every key and parses back to the same policy") {
  SUBCASE("built-in defaults") {
    const auto text = formatPolicy(Policy{});
    const auto load = parsePolicy(text, "formatted");
    REQUIRE_MESSAGE(load.ok(), problemsText(load));
    CHECK(load.policy == Policy{});
    for (const char* key : {"interval =",
                            "netns = all",
                            "dry_run =",
                            "rollback_on_exit =",
                            "max_changes =",
                            "change_window =",
                            "enabled =",
                            "ceiling = 4M",
                            "memory_budget = 25%",
                            "high_water =",
                            "lookahead =",
                            "target_fill =",
                            "cooldown =",
                            "margin =",
                            "mode = presize",
                            "entries_per_bucket =",
                            "min_interval =",
                            "max_memory = 16MiB",
                            "max_stall = 5ms",
                            "emergency_may_stall = false",
                            "mode = off",
                            "shorten_at =",
                            "factor = 0.5",
                            "relax_below =",
                            "relax_after =",
                            "order = tcp_timeout_time_wait, ",
                            "tcp_timeout_established = 1h"}) {
      CAPTURE(key);
      CHECK(text.find(key) != std::string::npos);
    }
  }
  SUBCASE("a policy unlike the defaults in every field") {
    Policy p;
    p.controller = {
        750ms, {NetnsSelector::Mode::Named, {"init", "r1"}}, true, true, 3, 90s, {}, std::int64_t{64} << 20};
    p.max = {false, 1'000'000, {0.3}, {0.85}, 0s, {0.4}, 2s, 0};
    p.hashsize = {HashsizePolicy::Mode::Fixed, 2, 2h, 1024 * 1024, 20ms, true};
    p.timeouts.mode = TimeoutsPolicy::Mode::Shorten;
    p.timeouts.shortenAt = {0.875};
    p.timeouts.factor = 0.3;
    p.timeouts.relaxBelow = {1.0 / 3.0};
    p.timeouts.relaxAfter = 25min;
    p.timeouts.cooldown = 45s;
    p.timeouts.order = {Knob::GreTimeoutStream, Knob::UdpTimeout};
    p.timeouts.floors[Knob::GreTimeoutStream] = 60;
    p.timeouts.floors[Knob::UdpTimeout] = 7;
    const auto load = parsePolicy(formatPolicy(p), "formatted");
    REQUIRE_MESSAGE(load.ok(), problemsText(load));
    CHECK(load.policy == p);
    CHECK(formatPolicy(load.policy) == formatPolicy(p));
  }
  SUBCASE("netns all") {
    Policy p;
    p.controller.netns.mode = NetnsSelector::Mode::All;
    CHECK(parsePolicy(formatPolicy(p), "formatted").policy == p);
  }
}

TEST_CASE("every example policy is valid and survives a round trip through formatPolicy") {
  const auto files = filesIn(kSourceDir / "examples" / "policies");
  REQUIRE(files.size() >= 3);
  for (const auto& file : files) {
    CAPTURE(file.string());
    const auto load = loadPolicyFile(file.string());
    CHECK_MESSAGE(load.ok(), problemsText(load));
    const auto again = parsePolicy(formatPolicy(load.policy), "formatted");
    CHECK_MESSAGE(again.ok(), problemsText(again));
    CHECK(again.policy == load.policy);
  }
}

TEST_CASE("every file in the bad-policy corpus has the problem its first line expects") {
  const auto files = filesIn(kSourceDir / "tests" / "policy" / "bad");
  CHECK(files.size() >= 40);
  for (const auto& file : files) {
    CAPTURE(file.filename().string());
    const auto text = readFile(file);
    // First line: "# expect: LINE: <substring of the message>"
    const std::string marker = "# expect: ";
    REQUIRE(text.rfind(marker, 0) == 0);
    const auto firstLine = text.substr(marker.size(), text.find('\n') - marker.size());
    const auto colon = firstLine.find(": ");
    REQUIRE(colon != std::string::npos);
    const int line = std::stoi(firstLine.substr(0, colon));
    const auto substring = firstLine.substr(colon + 2);
    const auto load = parsePolicy(text, file.filename().string());
    CAPTURE(problemsText(load));
    CHECK_FALSE(load.ok());
    CHECK(hasProblem(load, line, substring));
    for (const auto& problem : load.problems) CHECK(problem.line > 0);
  }
}

TEST_CASE("control bytes from a policy file are escaped in problems") {
  const auto load = parsePolicy("[max]\nceiling = 4\x1b[2J\x07\x7f\n", "p\x1b.conf");
  REQUIRE(load.problems.size() == 1);
  const auto text = load.problems[0].str();
  CHECK(text.find('\x1b') == std::string::npos);
  CHECK(text.find('\x07') == std::string::npos);
  CHECK(text.find('\x7f') == std::string::npos);
  CHECK(text.rfind("p\\x1b.conf:2: [max] ceiling: \"4\\x1b[2J\\x07\\x7f\"", 0) == 0);
}

TEST_CASE("the pace and shedding keys: defaults, values, an empty shed") {
  const auto defaults = ctpilot::policy::parsePolicy("", "p.conf");
  REQUIRE(defaults.ok());
  CHECK(defaults.policy.controller.fastInterval == std::chrono::milliseconds(100));
  CHECK(defaults.policy.controller.fastFill.value == doctest::Approx(0.5));
  CHECK(defaults.policy.timeouts.shed.size() == 4);
  CHECK(defaults.policy.timeouts.floors.at(Knob::UdpTimeout) == 5);
  CHECK(defaults.policy.timeouts.floors.at(Knob::TcpTimeoutSynSent) == 30);
  const auto set = ctpilot::policy::parsePolicy(
      "[controller]\ninterval = 2s\nfast_interval = 250ms\nfast_fill = 40%\n"
      "[timeouts]\nshed = udp_timeout\nshed_cooldown = 3s\norder = udp_timeout, tcp_timeout_time_wait\n",
      "p.conf");
  REQUIRE(set.ok());
  CHECK(set.policy.controller.fastInterval == std::chrono::milliseconds(250));
  CHECK(set.policy.controller.fastFill.value == doctest::Approx(0.4));
  CHECK(set.policy.timeouts.shed == std::vector<Knob>{Knob::UdpTimeout});
  CHECK(set.policy.timeouts.shedCooldown == std::chrono::seconds(3));
  const auto none = ctpilot::policy::parsePolicy("[timeouts]\nshed =\n", "p.conf");
  REQUIRE(none.ok());
  CHECK(none.policy.timeouts.shed.empty());
  const auto again = ctpilot::policy::parsePolicy(ctpilot::policy::formatPolicy(none.policy), "formatted");
  REQUIRE(again.ok());
  CHECK(again.policy == none.policy);
}

TEST_CASE("trace_file and textfile may not name /, /proc, /sys, /dev, the state directory or each other") {
  struct Row {
    std::string text;
    int line;
    std::string message;
  };
  const Row rows[] = {
      {"[controller]\ntrace_file = /proc/sys/net/netfilter/nf_conntrack_max\n", 2,
       "[controller] trace_file: \"/proc/sys/net/netfilter/nf_conntrack_max\" is under /proc"},
      {"[controller]\ntrace_file = /sys/kernel/x\n", 2, "is under /sys"},
      {"[controller]\ntrace_file = /dev/sda\n", 2, "is under /dev"},
      {"[controller]\ntrace_file = /\n", 2, "is the root directory"},
      {"[controller]\ntrace_file = /var/log/../../proc/x\n", 2, "is under /proc"},
      {"[controller]\ntrace_file = //dev//null\n", 2, "is under /dev"},
      {"[metrics]\ntextfile = /dev/shm/ctpilot.prom\n", 2,
       "[metrics] textfile: \"/dev/shm/ctpilot.prom\" is under /dev"},
      {"[controller]\ntrace_file = /var/lib/ctpilot/journal.jsonl\n", 2, "is in the state directory /var/lib/ctpilot"},
      {"[controller]\ntrace_file = /var/lib/ctpilot/./journal.checkpoint\n", 2, "is in the state directory"},
      {"[controller]\ntrace_file = /var/lib/ctpilot\n", 2, "is in the state directory"},
      {"[controller]\ntrace_file = /var/tmp/c.prom\n[metrics]\ntextfile = /var/tmp/c.prom\n", 4, "name the same file"},
      {"[controller]\ntrace_file = /var/tmp/c.prom.1\n[metrics]\ntextfile = /var/tmp/c.prom\n", 4,
       "name the same file"},
      {"[controller]\ntrace_file = /var/tmp/c.prom.tmp.99\n[metrics]\ntextfile = /var/tmp/c.prom\n", 4,
       "name the same file"},
  };
  for (const auto& row : rows) {
    CAPTURE(row.text);
    const auto load = parsePolicy(row.text, "p.conf", "/var/lib/ctpilot");
    REQUIRE(load.problems.size() == 1);
    CHECK(load.problems[0].line == row.line);
    CHECK(load.problems[0].message.find(row.message) != std::string::npos);
  }
  SUBCASE("files of their own pass; without a state directory only the system paths are checked") {
    CHECK(parsePolicy(
              "[controller]\ntrace_file = /var/log/ctpilot/trace.jsonl\n[metrics]\ntextfile = /var/lib/node/c.prom\n",
              "p", "/var/lib/ctpilot")
              .ok());
    CHECK(parsePolicy("[controller]\ntrace_file = /var/lib/ctpilot-trace.jsonl\n", "p", "/var/lib/ctpilot").ok());
    CHECK(parsePolicy("[controller]\ntrace_file = /var/lib/ctpilot/trace.jsonl\n", "p").ok());
  }
  SUBCASE("a symbolic link on the way is followed for the check") {
    const auto dir = fs::temp_directory_path() / ("ctpilot-written-path-" + std::to_string(::getpid()));
    fs::remove_all(dir);
    fs::create_directories(dir / "state");
    fs::create_directory_symlink(dir / "state", dir / "link");
    fs::create_directory_symlink("/sys", dir / "sys");  // only its path is resolved, nothing read
    const auto viaLink = parsePolicy("[controller]\ntrace_file = " + (dir / "link" / "journal.jsonl").string() + "\n",
                                     "p", (dir / "state").string());
    REQUIRE(viaLink.problems.size() == 1);
    CHECK(viaLink.problems[0].message.find("is in the state directory") != std::string::npos);
    const auto viaSys = parsePolicy("[controller]\ntrace_file = " + (dir / "sys" / "x").string() + "\n", "p");
    REQUIRE(viaSys.problems.size() == 1);
    CHECK(viaSys.problems[0].message.find("is under /sys") != std::string::npos);
    fs::remove_all(dir);
  }
}

TEST_CASE("the reader keeps the line of every problem and reads every line once") {
  struct Row {
    std::string name;
    std::string text;
    std::string problems;
  };
  constexpr char kNul[] = "[max]\n\nce\0iling = 1M\n";
  const Row rows[] = {
      {"a value may hold =: everything after the first = is the value", "[metrics]\nlisten = 127.0.0.1:9641=x\n",
       "p.conf:2: [metrics] listen: \"9641=x\" is not a port (1 to 65535)\n"},
      {"an indented line is a line of its own, not the continuation of the one above",
       "[max]\nceiling = 1M\n  and more\n", "p.conf:3: \"and more\" is neither \"key = value\" nor \"[section]\"\n"},
      {"a key with a byte no key has is an unknown key at its line", std::string(kNul, sizeof(kNul) - 1),
       "p.conf:3: [max] ce\\x00iling: unknown key; did you mean ceiling?\n"},
      {"keys under an unknown section are reported once, at its header",
       "[maxx]\nceiling = 1M\nnonsense = 2\n[max]\nceiling = 2M\n",
       "p.conf:1: [maxx]: unknown section; did you mean [max]?\n"},
      {"a key set again under a second header of its section is a duplicate",
       "[max]\nceiling = 1M\n[max]\nceiling = 2M\n",
       "p.conf:4: [max] ceiling: duplicate key; first set on line 2, keep one\n"},
  };
  for (const auto& row : rows) {
    CAPTURE(row.name);
    CHECK(problemsText(parsePolicy(row.text, "p.conf")) == row.problems);
  }
}
