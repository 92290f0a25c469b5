#include "controller/replay/trace.h"

#include <doctest/doctest.h>

#include <sstream>
#include <string>

#include "controller/journal/journal.h"
#include "controller/replay/prometheus_import.h"
#include "tests/source_files.h"

namespace ctpilot::controller {
namespace {

using testing::source;

Result<Trace> parse(const std::string& text) {
  std::istringstream in(text);
  return parseTrace(in, "t.jsonl");
}

const char* kHeader = R"({"ctpilot_trace":1,"source":"record","interval_ms":1000})";
const char* kSample = R"({"time":"2026-11-29T21:00:00.000Z","netns":"init","count":10,"max":100,"buckets":64,"insert":5,"drop":0,"early_drop":0})";
const char* kSample2 = R"({"time":"2026-11-29T21:00:01.000Z","netns":"init","count":12,"max":100,"buckets":64,"insert":7,"drop":1,"early_drop":0})";

// A query_range answer with one series per (name, values) pair, for instance gw1:9100.
std::string answer(const std::vector<std::pair<std::string, std::string>>& series, const std::string& instance = "gw1:9100") {
  std::string out = R"({"status":"success","data":{"resultType":"matrix","result":[)";
  for (std::size_t i = 0; i < series.size(); ++i) {
    out += (i ? "," : "") + std::string(R"({"metric":{"__name__":")") + series[i].first + R"(","instance":")" + instance +
           R"(","job":"node"},"values":)" + series[i].second + "}";
  }
  return out + "]}}";
}

// Four required series over the same instants `values` (a JSON array of [t, "v"] pairs).
std::vector<std::pair<std::string, std::string>> required(const std::string& values) {
  return {{"node_nf_conntrack_entries", values},
          {"node_nf_conntrack_entries_limit", values},
          {"node_nf_conntrack_stat_insert", values},
          {"node_nf_conntrack_stat_drop", values}};
}

}  // namespace

TEST_CASE("a trace written by ctpilot reads back the same") {
  Trace trace;
  trace.interval = std::chrono::milliseconds(250);
  trace.memTotalBytes = 1LL << 34;
  TraceSample s;
  s.time = *parseTime("2026-11-29T21:00:00.250Z");
  s.netns = "r1";
  s.count = 123;
  s.max = 4096;
  s.buckets = 1024;
  s.counters = {{"insert", 9}, {"drop", 4'294'967'300ULL}, {"early_drop", 2}};
  std::ostringstream out;
  writeTraceHeader(out, trace);
  writeTraceSample(out, s);
  s.time += std::chrono::milliseconds(250);
  s.buckets.reset();
  writeTraceSample(out, s);
  const auto back = parse(out.str());
  REQUIRE(back);
  CHECK(back->interval == std::chrono::milliseconds(250));
  CHECK(back->memTotalBytes == (1LL << 34));
  REQUIRE(back->samples.size() == 2);
  CHECK(back->samples[0].netns == "r1");
  CHECK(back->samples[0].count == 123);
  CHECK(back->samples[0].buckets == 1024);
  CHECK(back->samples[0].counters == s.counters);
  CHECK_FALSE(back->samples[1].buckets.has_value());
  CHECK(back->samples[1].time == s.time);
}

TEST_CASE("a malformed trace is one error naming the file and line") {
  struct Row {
    std::string text;
    std::string want;
  };
  const Row rows[] = {
      {std::string(kHeader) + "\n" + kSample + "\n{not json\n", "t.jsonl:3: not JSON"},
      {std::string(kHeader) + "\n" + R"({"time":"2026-11-29T21:00:00Z","max":5})" + "\n", "t.jsonl:2: no \"count\""},
      {std::string(kHeader) + "\n" + R"({"time":"yesterday","count":1,"max":5})" + "\n", "t.jsonl:2: \"time\" \"yesterday\" is not an RFC 3339 time"},
      {std::string(kHeader) + "\n" + R"({"time":"2026-11-29T21:00:00Z","count":-1,"max":5})" + "\n", "t.jsonl:2: \"count\" is -1, want a non-negative integer"},
      {std::string(kHeader) + "\n" + kSample2 + "\n" + kSample + "\n", "t.jsonl:3: time goes backwards"},
      {R"({"ctpilot_trace":2,"interval_ms":1000})" "\n", "t.jsonl:1: trace version 2 is not supported"},
      {R"({"ctpilot_trace":1})" "\n", "t.jsonl:1: no \"interval_ms\""},
      {std::string(kSample) + "\n", "t.jsonl:1: not a ctpilot trace"},
      {"", "t.jsonl: empty"},
      {std::string(kHeader) + "\n" + kSample + "\n", "t.jsonl: fewer than two samples"},
  };
  for (const auto& row : rows) {
    CAPTURE(row.text);
    const auto trace = parse(row.text);
    REQUIRE_FALSE(trace);
    CHECK(trace.error().code == Errc::Malformed);
    CHECK(trace.error().what.rfind(row.want, 0) == 0);
    CHECK(trace.error().what.find('\n') == std::string::npos);
  }
}

TEST_CASE("a real Prometheus answer imports as a trace of the initial netns") {
  // Captured by tests/kernel/prometheus_replay_test.sh (CTP_PROM_ANSWER_OUT): Debian's
  // prometheus scraping prometheus-node-exporter every second, nf_conntrack_max 4096, a TCP churn.
  const auto trace = loadTrace({source("tests/controller/data/prometheus_range_answer.json")});
  REQUIRE(trace);
  CHECK(trace->source == "prometheus");
  CHECK(trace->interval == std::chrono::seconds(1));
  CHECK(trace->samples.size() >= 10);
  CHECK(trace->netns() == std::vector<std::string>{"init"});
  CHECK(trace->samples.back().max == 4096);
  CHECK(trace->memTotalBytes.value_or(0) > 0);
  CHECK(trace->samples.back().counters.at("drop") > 0);
  bool bucketsNoted = false;
  for (const auto& note : trace->notes) bucketsNoted = bucketsNoted || note.find("buckets = nf_conntrack_max") != std::string::npos;
  CHECK(bucketsNoted);
}

TEST_CASE("a Prometheus import reports gaps and differing steps instead of making data up") {
  SUBCASE("an instant missing from every series is a gap, replayed as one longer step") {
    const auto trace = importPrometheus({{"a.json", answer(required(R"([[100,"1"],[101,"2"],[102,"3"],[106,"4"],[107,"5"]])"))}});
    REQUIRE(trace);
    CHECK(trace->samples.size() == 5);
    CHECK(trace->interval == std::chrono::seconds(1));
    bool gap = false;
    for (const auto& note : trace->notes) gap = gap || note.rfind("gap of 4s after ", 0) == 0;
    CHECK(gap);
  }
  SUBCASE("series with different steps keep only the instants they share") {
    auto series = required(R"([[100,"1"],[101,"2"],[102,"3"],[103,"4"],[104,"5"]])");
    series[3].second = R"([[100,"0"],[102,"0"],[104,"0"]])";
    const auto trace = importPrometheus({{"a.json", answer(series)}});
    REQUIRE(trace);
    CHECK(trace->samples.size() == 3);
    CHECK(trace->interval == std::chrono::seconds(2));
    bool steps = false, leftOut = false;
    for (const auto& note : trace->notes) {
      steps = steps || note.rfind("steps differ: 1s (", 0) == 0;
      leftOut = leftOut || note.rfind("2 instant(s) of node_nf_conntrack_entries left out", 0) == 0;
    }
    CHECK(steps);
    CHECK(leftOut);
  }
  SUBCASE("several files merge into one trace") {
    const auto series = required(R"([[100,"1"],[101,"2"]])");
    std::vector<PrometheusAnswer> answers;
    for (const auto& s : series) answers.push_back({s.first + ".json", answer({s})});
    const auto trace = importPrometheus(answers);
    REQUIRE(trace);
    CHECK(trace->samples.size() == 2);
  }
}

TEST_CASE("a malformed Prometheus answer is one error naming the file and the JSON path") {
  struct Row {
    std::string text;
    std::string want;
  };
  const Row rows[] = {
      {"{", "a.json: not JSON"},
      {R"({"status":"error","error":"bad query"})", "a.json: $.status: \"error\", want \"success\" (bad query)"},
      {R"({"status":"success","data":{"resultType":"vector","result":[]}})", "a.json: $.data.resultType: vector, want \"matrix\""},
      {answer(required(R"([[100,"1"],[101,"x"]])")), "a.json: $.data.result[0].values[1][1]: \"x\" is not a number"},
      {answer(required(R"([[100,"1"],[101]])")), "a.json: $.data.result[0].values[1]: want [unix_time, \"value\"]"},
      {answer({{"node_nf_conntrack_entries", R"([[100,"1"]])"}}), "a.json: $.data.result: no node_nf_conntrack_entries_limit series"},
      {R"({"status":"success","data":{"resultType":"matrix","result":[{"metric":{},"values":[]}]}})", "a.json: $.data.result[0].metric.__name__: missing"},
  };
  for (const auto& row : rows) {
    CAPTURE(row.text);
    const auto trace = importPrometheus({{"a.json", row.text}});
    REQUIRE_FALSE(trace);
    CHECK(trace.error().code == Errc::Malformed);
    CHECK(trace.error().what.rfind(row.want, 0) == 0);
  }
  SUBCASE("series of two gateways are refused: a replay is of one machine") {
    const auto gw1 = answer(required(R"([[100,"1"],[101,"2"]])"));
    const auto gw2 = answer(required(R"([[100,"1"],[101,"2"]])"), "gw2:9100");
    const auto trace = importPrometheus({{"a.json", gw1}, {"b.json", gw2}});
    REQUIRE_FALSE(trace);
    CHECK(trace.error().what.find("series of 2 instances (gw1:9100, gw2:9100)") != std::string::npos);
  }
}

}  // namespace ctpilot::controller
