// SPDX-License-Identifier: Apache-2.0
#include <doctest/doctest.h>

#include <fstream>
#include <set>
#include <sstream>
#include <string>

#include "sysfs/counters.h"

using namespace ctpilot;

namespace {

std::string readSource(const std::string& path) {
  std::ifstream in(std::string(CTPILOT_SOURCE_DIR) + "/" + path);
  REQUIRE(in.good());
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

// The line of `text` that contains `marker`.
std::string lineWith(const std::string& text, const std::string& marker) {
  const auto at = text.find(marker);
  REQUIRE(at != std::string::npos);
  const auto begin = text.rfind('\n', at) + 1;
  return text.substr(begin, text.find('\n', at) - begin);
}

}  // namespace

TEST_CASE("every counter has its own member, name, procfs column, status key and ctnetlink attribute") {
  std::set<std::string> names, columns, keys;
  std::set<int> attributes;
  sysfs::CpuCounters cpu;
  std::uint32_t value = 1;
  for (const auto& f : sysfs::counterFields()) {
    CAPTURE(f.name);
    CHECK(names.insert(f.name).second);
    CHECK(columns.insert(f.procfsColumn).second);
    CHECK(keys.insert(f.statusKey).second);
    CHECK(attributes.insert(f.attribute).second);
    CHECK(cpu.*f.perCpu == 0);  // no two rows share a member
    cpu.*f.perCpu = value++;
  }
  CHECK(sysfs::kCounterCount == 10);
  CHECK(sizeof(sysfs::CpuCounters) == sysfs::kCounterCount * sizeof(std::uint32_t));
}

TEST_CASE("the kernel's own column names and status's \"error\" are the only aliases") {
  for (const auto& f : sysfs::counterFields()) {
    CAPTURE(f.name);
    const std::string name = f.name;
    CHECK(std::string(f.procfsColumn) == (name == "chaintoolong"    ? "chainlength"
                                          : name == "clash_resolve" ? "clashres"
                                                                    : name));
    CHECK(std::string(f.statusKey) == (name == "icmp_error" ? "error" : name));
  }
}

TEST_CASE("every procfs column of the table is in the header Linux 6.18 prints") {
  const std::string text = readSource("tests/sysfs/data/procfs_stats_6.18.txt");
  std::istringstream header(text.substr(0, text.find('\n')));
  std::set<std::string> printed;
  for (std::string column; header >> column;) printed.insert(column);
  for (const auto& f : sysfs::counterFields()) {
    CAPTURE(f.procfsColumn);
    CHECK(printed.count(f.procfsColumn) == 1);
  }
}

TEST_CASE("the README documents the counters: a trace line's keys in order, status's keys in order, each metric") {
  const std::string readme = readSource("README.md");
  SUBCASE("a trace line holds the counters in the table's trace order") {
    const std::string line =
        lineWith(readme, "{\"time\":\"2026-11-29T21:00:00.000Z\",\"netns\":\"init\",\"count\":900");
    CAPTURE(line);
    CHECK(line.find(",\"insert\":0,\"drop\":2,") != std::string::npos);  // the example's one non-zero counter
    std::string documented = line.substr(line.find("\"insert\""));
    documented.pop_back();  // the closing brace
    std::string keys;
    std::istringstream fields(documented);
    for (std::string field; std::getline(fields, field, ',');)
      keys += (keys.empty() ? "" : ",") + field.substr(0, field.find(':'));
    std::string want;
    for (const char* name : sysfs::counterNamesInTraceOrder())
      want += (want.empty() ? "\"" : ",\"") + std::string(name) + "\"";
    CHECK(keys == want);
  }
  SUBCASE("status --json has the counters in the table's order") {
    const std::string line = lineWith(readme, "| `.stats.drop`");
    std::string want;
    for (const auto& f : sysfs::counterFields())
      want += (want.empty() ? "| `.stats." : ", `.") + std::string(f.statusKey) + "`";
    CHECK(line.substr(0, want.size()) == want);
  }
  SUBCASE("\"Monitoring\" names each counter that is a metric") {
    const std::string line = lineWith(readme, "| `ctpilot_conntrack_drop_total`");
    for (const auto& f : sysfs::counterFields()) {
      CAPTURE(f.name);
      const bool documented = line.find("_" + std::string(f.name) + "_total`") != std::string::npos;
      CHECK(documented == (f.metricHelp != nullptr));
    }
  }
}
