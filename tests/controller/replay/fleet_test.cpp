// SPDX-License-Identifier: Apache-2.0
// The fleet: Prometheus answers of many instances grouped and replayed (README "Replay a whole
// fleet"), the hardened answer reader (hostile numbers, nesting, escapes), and the pieces a
// long range is fetched in.
#include <doctest/doctest.h>

#include <filesystem>
#include <string>

#include "controller/journal/journal.h"
#include "controller/replay/fleet.h"
#include "controller/replay/prometheus_client.h"
#include "controller/replay/prometheus_import.h"
#include "tests/source_files.h"
#include "tests/temp_tree.h"

namespace ctpilot::controller {
namespace {

using testing::examplePolicy;

// One series of a query_range answer.
std::string series(const std::string& name, const std::string& labels, const std::string& values) {
  return R"({"metric":{"__name__":")" + name + "\"" + (labels.empty() ? "" : "," + labels) + R"(},"values":)" + values +
         "}";
}

std::string answer(const std::vector<std::string>& result, const std::string& extra = "") {
  std::string out = R"({"status":"success",)" + extra + R"("data":{"resultType":"matrix","result":[)";
  for (std::size_t i = 0; i < result.size(); ++i) out += (i ? "," : "") + result[i];
  return out + "]}}";
}

// The four required node_exporter series of `instance` over `n` instants from t=1000 s, every
// 15 s: count `count`, limit `max`, drops rising by `dropStep` per instant.
std::vector<std::string> node(const std::string& instance, int n, int count, int max, int dropStep, int from = 0) {
  std::string counts = "[", limits = "[", inserts = "[", drops = "[";
  for (int i = from; i < from + n; ++i) {
    const auto t = std::to_string(1000 + 15 * i);
    const auto sep = i == from ? "" : ",";
    counts += sep + std::string("[") + t + ",\"" + std::to_string(count) + "\"]";
    limits += sep + std::string("[") + t + ",\"" + std::to_string(max) + "\"]";
    inserts += sep + std::string("[") + t + ",\"0\"]";
    drops += sep + std::string("[") + t + ",\"" + std::to_string(dropStep * i) + "\"]";
  }
  const auto labels = R"("instance":")" + instance + R"(","job":"node")";
  return {series("node_nf_conntrack_entries", labels, counts + "]"),
          series("node_nf_conntrack_entries_limit", labels, limits + "]"),
          series("node_nf_conntrack_stat_insert", labels, inserts + "]"),
          series("node_nf_conntrack_stat_drop", labels, drops + "]")};
}

std::vector<std::string> operator+(std::vector<std::string> a, const std::vector<std::string>& b) {
  a.insert(a.end(), b.begin(), b.end());
  return a;
}

Error importError(const std::string& text) {
  const auto fleet = importPrometheusFleet({{"a.json", text}});
  REQUIRE_FALSE(fleet);
  CHECK(fleet.error().code == Errc::Malformed);
  CHECK(fleet.error().what.find('\n') == std::string::npos);
  CHECK(fleet.error().what.find('\x1b') == std::string::npos);
  return fleet.error();
}

}  // namespace

TEST_CASE("a Prometheus answer of many instances is one trace per instance, sorted by instance") {
  const auto text =
      answer(node("gw2:9100", 4, 50, 100, 3) + node("gw1:9100", 4, 10, 100, 0) + node("gw3:9100", 4, 20, 200, 1));
  const auto fleet = importPrometheusFleet({{"a.json", text}});
  REQUIRE(fleet);
  REQUIRE(fleet->instances.size() == 3);
  CHECK(fleet->instances[0].instance == "gw1:9100");
  CHECK(fleet->instances[1].instance == "gw2:9100");
  CHECK(fleet->instances[2].instance == "gw3:9100");
  CHECK(fleet->instances[1].origin == "node_exporter");
  REQUIRE(fleet->instances[1].trace.samples.size() == 4);
  CHECK(fleet->instances[1].trace.samples[3].count == 50);
  CHECK(fleet->instances[1].trace.samples[3].counters.at("drop") == 9);
  CHECK(fleet->instances[2].trace.samples[0].max == 200);
  CHECK(fleet->instances[0].trace.interval == std::chrono::seconds(15));
  SUBCASE("the single-instance reader refuses it, naming the instances") {
    const auto trace = importPrometheus({{"a.json", text}});
    REQUIRE_FALSE(trace);
    CHECK(trace.error().what.find("series of 3 instances (gw1:9100, gw2:9100, gw3:9100)") != std::string::npos);
  }
}

TEST_CASE("a range fetched in pieces (or several files) merges per series; the shared edge counts once") {
  const auto first = answer(node("gw1:9100", 3, 10, 100, 2, 0) + node("gw2:9100", 3, 10, 100, 0, 0));
  const auto second = answer(node("gw1:9100", 3, 10, 100, 2, 2) + node("gw2:9100", 3, 10, 100, 0, 2));
  const auto fleet = importPrometheusFleet({{"a.json", first}, {"b.json", second}});
  REQUIRE(fleet);
  REQUIRE(fleet->instances.size() == 2);
  REQUIRE(fleet->instances[0].trace.samples.size() == 5);
  CHECK(fleet->instances[0].trace.samples.back().counters.at("drop") == 8);
}

TEST_CASE("series that cannot be grouped are refused, never merged") {
  SUBCASE("one metric twice for an instance with other labels differing (two jobs)") {
    auto twice = node("gw1:9100", 3, 10, 100, 0);
    auto other = node("gw1:9100", 3, 99, 100, 0);
    other[0].replace(other[0].find("\"node\""), 6, "\"node2\"");
    const auto e = importError(answer(twice + std::vector<std::string>{other[0]}));
    CHECK(e.what.find("a.json: $.data.result[4]: node_nf_conntrack_entries of instance \"gw1:9100\" twice with "
                      "different labels") == 0);
    CHECK(e.what.find("job=\"node2\"") != std::string::npos);
  }
  SUBCASE("a series without an instance beside instances") {
    auto bare = node("gw1:9100", 3, 10, 100, 0);
    bare[0] = series("node_nf_conntrack_entries", R"("job":"node")", R"([[1000,"1"],[1015,"2"]])");
    const auto e = importError(answer(bare + node("gw2:9100", 3, 10, 100, 0)));
    CHECK(e.what.find("a.json: $.data.result[0]: a series without an \"instance\" label") == 0);
  }
  SUBCASE("nothing matched") {
    const auto e = importError(answer({}));
    CHECK(e.what.find("a.json: $.data.result: no node_nf_conntrack_* or ctpilot_conntrack_* series") == 0);
  }
}

TEST_CASE("an instance without a required series is said and left out; the rest of the fleet is replayed") {
  auto broken = node("gw2:9100", 3, 10, 100, 0);
  broken.pop_back();  // no stat_drop
  const auto fleet = importPrometheusFleet({{"a.json", answer(node("gw1:9100", 3, 10, 100, 0) + broken)}});
  REQUIRE(fleet);
  REQUIRE(fleet->instances.size() == 1);
  REQUIRE(fleet->warnings.size() == 1);
  CHECK(fleet->warnings[0].find("instance gw2:9100 not replayed: ") == 0);
  CHECK(fleet->warnings[0].find("no node_nf_conntrack_stat_drop series") != std::string::npos);
}

TEST_CASE("ctpilot's per-netns series take precedence over node_exporter's") {
  const auto labels = [](const std::string& ns) { return R"("instance":"gw1:9100","netns":")" + ns + "\""; };
  const std::string values = R"([[1000,"5"],[1015,"6"],[1030,"7"]])";
  const auto text = answer(
      node("gw1:9100", 3, 10, 100, 0) +
      std::vector<std::string>{
          series("ctpilot_conntrack_entries", labels("init"), values),
          series("ctpilot_conntrack_entries", labels("blue"), values),
          series("ctpilot_conntrack_max", R"("instance":"gw1:9100")", R"([[1000,"64"],[1015,"64"],[1030,"64"]])"),
          series("ctpilot_conntrack_drop_total", labels("init"), values),
          series("ctpilot_conntrack_drop_total", labels("blue"), values),
          series("ctpilot_conntrack_timeout_seconds", labels("blue") + R"(,"timeout":"x")", values)});
  const auto fleet = importPrometheusFleet({{"a.json", text}});
  REQUIRE(fleet);
  REQUIRE(fleet->instances.size() == 1);
  const auto& it = fleet->instances[0];
  CHECK(it.origin == "ctpilot");
  CHECK(it.trace.netns() == std::vector<std::string>{"blue", "init"});
  REQUIRE(it.trace.samples.size() == 6);
  CHECK(it.trace.samples[0].max == 64);
  CHECK(it.trace.samples[0].count == 5);
}

TEST_CASE("hostile answers: every number range-checked, nesting bounded, control bytes escaped") {
  struct Row {
    std::string values;
    std::string want;
  };
  const Row rows[] = {
      {R"([[1000,"1"],[1e400,"2"]])", "a.json: $.data.result[0].values[1][0]: number \"1e400\" is out of range"},
      {R"([[1000,"1"],[-5,"2"]])", "a.json: $.data.result[0].values[1][0]: time -5 is out of range"},
      {R"([[1000,"1"],[1e12,"2"]])", "a.json: $.data.result[0].values[1][0]: time 1000000000000 is out of range"},
      {R"([[1000,"1"],[1015,"1e308"]])", "a.json: $.data.result[0].values[1][1]: \"1e308\" is out of range"},
      {R"([[1000,"1"],[1015,"0x10"]])", "a.json: $.data.result[0].values[1][1]: \"0x10\" is not a number"},
      {R"([[1000,"1"],[1015," 26"]])", "a.json: $.data.result[0].values[1][1]: \" 26\" is not a number"},
      {R"([[1000,"1"],[1015,"26.7"]])", "a.json: $.data.result[0].values[1][1]: \"26.7\" is not a whole number"},
      {R"([[1000,"1"],[1015,"-1"]])", "a.json: $.data.result[0].values[1][1]: \"-1\" is not a count"},
      {R"([[1000,"1"],[1015,"+Inf"]])", "a.json: $.data.result[0].values[1][1]: \"+Inf\" is not a count"},
      {R"([[1000,"1"],[1015,"8589934592"]])",
       "a.json: $.data.result[0].values[1][1]: 8589934592 is out of range for node_nf_conntrack_entries"},
      {R"([[1000,"1"],[1015,"2",3]])", "a.json: $.data.result[0].values[1]: want [unix_time, \"value\"]"},
      {R"([[1000,"1"],["1015","2"]])", "a.json: $.data.result[0].values[1]: want [unix_time, \"value\"]"},
  };
  for (const auto& row : rows) {
    CAPTURE(row.values);
    auto result = node("gw1:9100", 2, 1, 100, 0);
    result[0] = series("node_nf_conntrack_entries", R"("instance":"gw1:9100")", row.values);
    const auto e = importError(answer(result));
    CHECK(e.what.rfind(row.want, 0) == 0);
  }
  SUBCASE("a large counter that a double holds exactly is kept") {
    auto result = node("gw1:9100", 2, 1, 100, 0);
    result[3] = series("node_nf_conntrack_stat_drop", R"("instance":"gw1:9100")",
                       R"([[1000,"4294967300"],[1015,"4.294967301e9"]])");
    const auto fleet = importPrometheusFleet({{"a.json", answer(result)}});
    REQUIRE(fleet);
    CHECK(fleet->instances[0].trace.samples[1].counters.at("drop") == 4'294'967'301ULL);
  }
  SUBCASE("100,000 levels of nesting") {
    const auto arrays = std::string(100'000, '[') + std::string(100'000, ']');
    CHECK(importError(arrays).what == "a.json: $[0]: want a series {\"metric\":{...},\"values\":[...]}");
    std::string objects;
    for (int i = 0; i < 100'000; ++i) objects += "{\"a\":";
    CHECK(importError(objects).what.rfind("a.json: $.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a: nested deeper than 16 levels",
                                          0) == 0);
    const auto inValues =
        answer({R"({"metric":{"__name__":"node_nf_conntrack_entries"},"values":[[1000,)" + std::string(100'000, '[')});
    CHECK(importError(inValues).what.rfind("a.json: $.data.result[0].values[0]: want [unix_time, \"value\"]", 0) == 0);
  }
  SUBCASE("an error answer quoting escape sequences") {
    const auto e = importError(
        "{\"status\":\"error\",\"errorType\":\"bad_data\",\"error\":\"\\u001b[31mred\\u001b]0;title\\u0007\"}");
    CHECK(e.what == "a.json: $.status: \"error\", want \"success\" (\\x1b[31mred\\x1b]0;title\\x07)");
  }
  SUBCASE("a metric name or label with escapes") {
    auto result = node("gw1:9100", 2, 1, 100, 0);
    auto other = node("gw1:9100", 2, 1, 100, 0);
    other[0].replace(other[0].find("\"node\""), 6, "\"\\u001b[2J\"");
    const auto e = importError(answer(result + std::vector<std::string>{other[0]}));
    CHECK(e.what.find("\\x1b[2J") != std::string::npos);
  }
  SUBCASE("a label name with control bytes, in a JSON path and in the labels quoted (found by fuzz_prometheus)") {
    auto result = node("gw1:9100", 2, 1, 100, 0);
    auto other = node("gw1:9100", 2, 1, 100, 0);
    other[0].replace(other[0].find("\"job\""), 5, "\"j\u007fb\"");
    const auto e = importError(answer(result + std::vector<std::string>{other[0]}));
    CHECK(e.what.find("j\\x7fb=") != std::string::npos);
    const auto path = importError(
        R"({"status":"success","data":{"resultType":"matrix","result":[{"metric":{"__name__":"node_nf_conntrack_entries","a\u001b":1}}]}})");
    CHECK(path.what.find("$.data.result[0].metric.a\\x1b: a label value must be a string") != std::string::npos);
  }
  SUBCASE("not JSON") { CHECK(importError("{\"status\":").what.rfind("a.json: not JSON at byte", 0) == 0); }
  SUBCASE("warnings are kept, escaped") {
    const auto fleet = importPrometheusFleet(
        {{"a.json", answer(node("gw1:9100", 2, 1, 100, 0), R"("warnings":["partial \u001b answer"],)")}});
    REQUIRE(fleet);
    CHECK(fleet->warnings == std::vector<std::string>{"partial \\x1b answer"});
  }
}

TEST_CASE("a fleet replayed under observe-only gives back every instance's drops, worst first") {
  const auto text =
      answer(node("gw1:9100", 40, 100, 100, 0) + node("gw2:9100", 40, 100, 100, 7) + node("gw3:9100", 40, 100, 100, 2));
  const auto fleet = importPrometheusFleet({{"a.json", text}});
  REQUIRE(fleet);
  testing::TempTree tree("fleet");
  FleetOptions options;
  options.csvDir = tree.at("csv").string();
  std::size_t progressed = 0;
  options.progress = [&](std::size_t done, std::size_t total) {
    CHECK(total == 3);
    progressed = done;
  };
  const auto report = replayFleet(*fleet, examplePolicy("observe-only"), options);
  REQUIRE(report);
  CHECK(progressed == 3);
  REQUIRE(report->rows.size() == 3);
  CHECK(report->rows[0].instance == "gw2:9100");
  CHECK(report->rows[0].recordedDrops == 7 * 39);
  CHECK(report->rows[0].replayedDrops == 7 * 39);
  CHECK(report->rows[1].instance == "gw3:9100");
  CHECK(report->rows[1].replayedDrops == 2 * 39);
  CHECK(report->rows[2].instance == "gw1:9100");
  CHECK(report->rows[2].replayedDrops == 0);
  CHECK(report->rows[0].changes == 0);
  for (const auto* name : {"gw1_9100.csv", "gw2_9100.csv", "gw3_9100.csv"})
    CHECK(std::filesystem::exists(options.csvDir + "/" + name));
  const auto table = fleetTable(*report);
  CHECK(table.find("recorded drops 351, replayed drops 351") != std::string::npos);
  CHECK(table.find("still dropping 2 (gw2:9100, gw3:9100)") != std::string::npos);
  const auto json = fleetJson(*report);
  CHECK(json["totals"]["replayed_drops"] == 351);
  CHECK(json["still_dropping"] == nlohmann::ordered_json::array({"gw2:9100", "gw3:9100"}));
  CHECK(json["rows"][0]["recorded_drops"] == 273);
}

TEST_CASE("instance names become safe CSV file names") {
  CHECK(csvFileName("gw1:9100") == "gw1_9100.csv");
  CHECK(csvFileName("../../etc/x") == ".._.._etc_x.csv");
  CHECK(csvFileName("..") == "_...csv");
  CHECK(csvFileName("") == "trace.csv");
}

TEST_CASE("a long range is fetched in pieces under Prometheus' 11,000 points per series") {
  PrometheusQuery q;
  q.from = *parseTime("2026-11-01T00:00:00Z");
  q.to = q.from + std::chrono::hours(24 * 7);
  q.step = std::chrono::seconds(15);
  const auto pieces = splitRange(q);
  REQUIRE(pieces);
  CHECK(pieces->size() == 5);  // 40,321 instants
  auto expected = q.from;
  std::int64_t points = 0;
  for (const auto& [start, end] : *pieces) {
    CHECK(start == expected);  // no gap, no overlap: the next piece starts one step on
    const auto n = (end - start) / q.step + 1;
    CHECK(n <= 11'000);
    points += n;
    expected = end + q.step;
  }
  CHECK(points == 40'321);
  CHECK(pieces->back().second == q.to);
  SUBCASE("a range needing too many requests is refused") {
    q.step = std::chrono::seconds(1);
    q.to = q.from + std::chrono::hours(24 * 365);
    const auto refused = splitRange(q);
    REQUIRE_FALSE(refused);
    CHECK(refused.error().what.find("raise --step") != std::string::npos);
  }
  SUBCASE("an empty range is refused") {
    q.to = q.from;
    CHECK_FALSE(splitRange(q));
  }
}

TEST_CASE("--match narrows the fleet selector; anything but label matchers is refused") {
  const auto all = fleetSelector("");
  REQUIRE(all);
  CHECK(all->find("{__name__=~\"node_nf_conntrack_entries|") == 0);
  const auto narrowed = fleetSelector(R"({job="node",instance=~"gw.*"})");
  REQUIRE(narrowed);
  CHECK(narrowed->find(R"(",job="node",instance=~"gw.*"})") != std::string::npos);
  CHECK(fleetSelector(R"(job="node")"));
  CHECK_FALSE(fleetSelector(R"(up{job="node"})"));
  CHECK_FALSE(fleetSelector(R"({__name__="x"})"));
  CHECK_FALSE(fleetSelector("rate(x[5m])"));
  CHECK_FALSE(fleetSelector(R"({job="node")"));
}

}  // namespace ctpilot::controller
