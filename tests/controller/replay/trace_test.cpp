// SPDX-License-Identifier: Apache-2.0
#include "controller/replay/trace.h"

#include <doctest/doctest.h>

#include <sys/stat.h>

#include <algorithm>
#include <fstream>
#include <sstream>
#include <string>

#include "controller/journal/journal.h"
#include "controller/replay/prometheus_import.h"
#include "tests/source_files.h"
#include "tests/temp_tree.h"

namespace ctpilot::controller {
namespace {

using testing::source;

Result<Trace> parse(const std::string& text) {
  std::istringstream in(text);
  return parseTrace(in, "t.jsonl");
}

const char* kHeader = R"({"ctpilot_trace":1,"source":"record","interval_ms":1000})";
const char* kSample =
    R"({"time":"2026-11-29T21:00:00.000Z","netns":"init","count":10,"max":100,"buckets":64,"insert":5,"drop":0,"early_drop":0})";
const char* kSample2 =
    R"({"time":"2026-11-29T21:00:01.000Z","netns":"init","count":12,"max":100,"buckets":64,"insert":7,"drop":1,"early_drop":0})";

// A query_range answer with one series per (name, values) pair, for instance gw1:9100.
std::string answer(const std::vector<std::pair<std::string, std::string>>& series,
                   const std::string& instance = "gw1:9100") {
  std::string out = R"({"status":"success","data":{"resultType":"matrix","result":[)";
  for (std::size_t i = 0; i < series.size(); ++i) {
    out += (i ? "," : "") + std::string(R"({"metric":{"__name__":")") + series[i].first + R"(","instance":")" +
           instance + R"(","job":"node"},"values":)" + series[i].second + "}";
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
      {std::string(kHeader) + "\n" + kSample + "\n{not json\n", "t.jsonl:3: invalid JSON"},
      {std::string(kHeader) + "\n" + R"({"time":"2026-11-29T21:00:00Z","max":5})" + "\n", "t.jsonl:2: no \"count\""},
      {std::string(kHeader) + "\n" + R"({"time":"yesterday","count":1,"max":5})" + "\n",
       "t.jsonl:2: \"time\" \"yesterday\" is not an RFC 3339 time"},
      {std::string(kHeader) + "\n" + R"({"time":"2026-11-29T21:00:00Z","count":-1,"max":5})" + "\n",
       "t.jsonl:2: \"count\" is -1, want an integer from 0 to 2147483647"},
      {std::string(kHeader) + "\n" + kSample2 + "\n" + kSample + "\n", "t.jsonl:3: time goes backwards"},
      {R"({"ctpilot_trace":2,"interval_ms":1000})"
       "\n",
       "t.jsonl:1: trace version 2 is not supported"},
      {R"({"ctpilot_trace":1})"
       "\n",
       "t.jsonl:1: no \"interval_ms\""},
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

// README Safety promise 13: every number of a trace is range-checked, every line nests a bounded
// depth, and a message never carries the trace's control bytes raw.
TEST_CASE("a hostile trace is one error, never an abort, a crash or a figure that overflows") {
  const std::string head = std::string(kHeader) + "\n" + kSample + "\n";
  const std::string deep = std::string(100000, '[') + std::string(100000, ']');
  const std::string deepObject = R"({"time":)" + std::string(100000, '[') + "1" + std::string(100000, ']') + "}";
  struct Row {
    std::string text;
    std::string want;
  };
  const Row rows[] = {
      {head + R"({"time":"2026-11-29T21:00:01Z","count":1e400,"max":5})"
              "\n",
       "t.jsonl:3: invalid JSON: "},
      {std::string(R"({"ctpilot_trace":1,"interval_ms":1e400})") + "\n", "t.jsonl:1: invalid JSON: "},
      {head + deep + "\n", "t.jsonl:3: longer than 65536 bytes"},
      {head + std::string(10000, '[') + "\n", "t.jsonl:3: nested deeper than 4 levels"},
      {head + std::string(5000, '{') + "\n", "t.jsonl:3: nested deeper than 4"},
      {head + R"({"time":"2026-11-29T21:00:01Z","count":101,"max":100})"
              "\n",
       "t.jsonl:3: \"count\" 101 is above \"max\" 100"},
      {head + R"({"time":"2026-11-29T21:00:01Z","count":1,"max":9223372036854775807})"
              "\n",
       "t.jsonl:3: \"max\" is 9223372036854775807, want an integer from 0 to 2147483647"},
      {head + R"({"time":"2026-11-29T21:00:01Z","count":1,"max":18446744073709551615})"
              "\n",
       "t.jsonl:3: \"max\" is 18446744073709551615"},
      {head + R"({"time":"2026-11-29T21:00:01Z","count":0,"max":0})"
              "\n",
       "t.jsonl:3: \"max\" is 0, want 1 to 2147483647"},
      {head + R"({"time":"2026-11-29T21:00:01Z","count":1,"max":5,"buckets":0})"
              "\n",
       "t.jsonl:3: \"buckets\" is 0"},
      {head + R"({"time":"2026-11-29T21:00:01Z","count":1,"max":5,"insert":9007199254740993})"
              "\n",
       "t.jsonl:3: \"insert\" is 9007199254740993, want an integer from 0 to 9007199254740992"},
      {head + R"({"time":"2026-11-29T21:00:01Z","count":1,"max":5,"netns":")" + std::string(256, 'n') + "\"}\n",
       "t.jsonl:3: \"netns\" must be a name of 1 to 255 bytes"},
      {head + R"({"time":"2026-11-29T21:00:01Z","count":1,"max":5,"netns":"a\u001b[2Jb"})"
              "\n",
       "t.jsonl:3: \"netns\" \"a\\u001b[2Jb\" holds a control byte"},
      {head + R"({"time":"2026-11-29T21:00:01Z","count":1,"max":5,"netns":"../x"})"
              "\n",
       "t.jsonl:3: \"netns\" \"../x\" holds a control byte or a slash"},
      {head + R"({"time":"2201-01-01T00:00:00Z","count":1,"max":5})"
              "\n",
       "t.jsonl:3: \"time\" \"2201-01-01T00:00:00Z\" is not an RFC 3339 time from 1970 to 2200"},
      {head + R"({"time":"1969-12-31T23:59:59Z","count":1,"max":5})"
              "\n",
       "t.jsonl:3: \"time\" \"1969-12-31T23:59:59Z\" is not an RFC 3339 time"},
      {R"({"ctpilot_trace":1,"interval_ms":86400001})"
       "\n",
       "t.jsonl:1: \"interval_ms\" is 86400001, want an integer from 0 to 86400000"},
      {head + R"({"time":"\u001b[31m","count":1,"max":5})"
              "\n",
       "t.jsonl:3: \"time\" \"\\u001b[31m\" is not an RFC 3339 time"},
      {head + "\x1b]0;owned\x07\n", "t.jsonl:3: invalid JSON: "},
      {head + R"({"time":)" + std::string(100000, 'x') + "}\n", "t.jsonl:3: longer than 65536 bytes"},
      {head + deepObject.substr(0, 60000) + "\n", "t.jsonl:3: nested deeper than 4"},
  };
  for (const auto& row : rows) {
    CAPTURE(row.text.substr(0, 200));
    const auto trace = parse(row.text);
    REQUIRE_FALSE(trace);
    CHECK(trace.error().code == Errc::Malformed);
    CHECK(trace.error().what.substr(0, row.want.size()) == row.want);
    CHECK(trace.error().what.size() < 400);
    CHECK(std::none_of(trace.error().what.begin(), trace.error().what.end(),
                       [](char c) { return static_cast<unsigned char>(c) < 0x20 || c == 0x7f; }));
  }
}

TEST_CASE("a trace cut mid-line by a full disk replays as far as it goes, with a warning") {
  const std::string text = std::string(kHeader) + "\n" + kSample + "\n" + kSample2 + "\n" +
                           R"({"time":"2026-11-29T21:00:02.000Z","netns":"in)";
  const auto trace = parse(text);
  REQUIRE(trace);
  CHECK(trace->samples.size() == 2);
  REQUIRE(trace->warnings.size() == 1);
  CHECK(trace->warnings[0] ==
        "t.jsonl:4: the last line is cut short (46 bytes and no newline: written when the disk was full?); replaying "
        "the 2 samples before it");
  SUBCASE("a bad line that ends with a newline is still an error: only the cut last line is forgiven") {
    CHECK_FALSE(parse(text + "\n"));
    CHECK_FALSE(parse(text + "\n" + kSample2 + "\n"));
  }
  SUBCASE("a complete last line without its newline is a sample") {
    const auto whole = parse(std::string(kHeader) + "\n" + kSample + "\n" + kSample2);
    REQUIRE(whole);
    CHECK(whole->samples.size() == 2);
    CHECK(whole->warnings.empty());
  }
}

TEST_CASE("a file that is not a regular file is refused at once, and a big one is read as it streams") {
  testing::TempTree tree("trace-files");
  const auto fifo = (tree.root / "trace.fifo").string();
  REQUIRE(::mkfifo(fifo.c_str(), 0600) == 0);
  const auto fromFifo = loadTrace({fifo});
  REQUIRE_FALSE(fromFifo);
  CHECK(fromFifo.error().what == fifo + " is not a regular file (it is a FIFO)");
  const auto fromDir = loadTrace({tree.root.string()});
  REQUIRE_FALSE(fromDir);
  CHECK(fromDir.error().what == tree.root.string() + " is not a regular file (it is a directory)");
  const auto missing = loadTrace({(tree.root / "none").string()});
  REQUIRE_FALSE(missing);
  CHECK(missing.error().code == Errc::Missing);
  SUBCASE("a file of one endless line stops at the line bound") {
    const auto path = tree.root / "endless.jsonl";
    {
      std::ofstream out(path);
      out << kHeader << "\n" << std::string(8 << 20, ' ') << "x";
    }
    const auto trace = loadTrace({path.string()});
    REQUIRE_FALSE(trace);
    CHECK(trace.error().what == path.string() + ":2: longer than 65536 bytes; not a trace line");
  }
  SUBCASE("a ctpilot trace on disk reads as it does from memory") {
    const auto path = tree.root / "t.jsonl";
    std::ofstream(path) << kHeader << "\n" << kSample << "\n" << kSample2 << "\n";
    const auto trace = loadTrace({path.string()});
    REQUIRE(trace);
    CHECK(trace->samples.size() == 2);
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
  for (const auto& note : trace->notes)
    bucketsNoted = bucketsNoted || note.find("buckets = nf_conntrack_max") != std::string::npos;
  CHECK(bucketsNoted);
}

TEST_CASE("a Prometheus import reports gaps and differing steps instead of making data up") {
  SUBCASE("an instant missing from every series is a gap, replayed as one longer step") {
    const auto trace =
        importPrometheus({{"a.json", answer(required(R"([[100,"1"],[101,"2"],[102,"3"],[106,"4"],[107,"5"]])"))}});
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
      {R"({"status":"success","data":{"resultType":"vector","result":[]}})",
       "a.json: $.data.resultType: vector, want \"matrix\""},
      {answer(required(R"([[100,"1"],[101,"x"]])")), "a.json: $.data.result[0].values[1][1]: \"x\" is not a number"},
      {answer(required(R"([[100,"1"],[101]])")), "a.json: $.data.result[0].values[1]: want [unix_time, \"value\"]"},
      {answer({{"node_nf_conntrack_entries", R"([[100,"1"]])"}}),
       "a.json: $.data.result: no node_nf_conntrack_entries_limit series"},
      {R"({"status":"success","data":{"resultType":"matrix","result":[{"metric":{},"values":[]}]}})",
       "a.json: $.data.result[0].metric.__name__: missing"},
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

namespace ctpilot::controller {

TEST_CASE("a sample line holds every counter, in the order README \"Replay your own traffic\" shows") {
  TraceSample s;
  s.time = *parseTime("2026-11-29T21:00:00.000Z");
  s.count = 900;
  s.max = 262144;
  s.buckets = 262144;
  for (const char* name : kTraceCounters) s.counters[name] = 0;
  s.counters["drop"] = 2;
  std::ostringstream out;
  writeTraceSample(out, s);
  CHECK(
      out.str() ==
      R"({"time":"2026-11-29T21:00:00.000Z","netns":"init","count":900,"max":262144,"buckets":262144,"insert":0,"drop":2,)"
      R"("early_drop":0,"insert_failed":0,"found":0,"invalid":0,"icmp_error":0,"search_restart":0,"clash_resolve":0,)"
      R"("chaintoolong":0})"
      "\n");
}

}  // namespace ctpilot::controller
