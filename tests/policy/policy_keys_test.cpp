// SPDX-License-Identifier: Apache-2.0
// The table of policy keys: each key once, each printing a value it reads back, and the README's
// "Policy reference" naming exactly its sections and keys (README "Code map": adding a policy key).

#include <doctest/doctest.h>

#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include "policy/policy_file.h"
#include "policy/policy_keys.h"

using namespace ctpilot::policy;

namespace {

std::string readmeSection(const std::string& heading) {
  std::ifstream in(std::string(CTPILOT_SOURCE_DIR) + "/README.md");
  REQUIRE(in.good());
  std::stringstream text;
  text << in.rdbuf();
  const std::string readme = text.str();
  const auto start = readme.find("\n## " + heading + "\n");
  REQUIRE(start != std::string::npos);
  const auto end = readme.find("\n## ", start + 1);
  return readme.substr(start, end - start);
}

// The reference's sections in order, and its rows: (section, key) -> the unit column.
struct Reference {
  std::vector<std::string> sections;
  std::map<std::pair<std::string, std::string>, std::string> units;
};

Reference parseReference(const std::string& text) {
  Reference reference;
  std::istringstream in(text);
  std::string line;
  std::string section;
  while (std::getline(in, line)) {
    if (line.starts_with("**[")) {
      section = line.substr(3, line.find(']') - 3);
      reference.sections.push_back(section);
    } else if (line.starts_with("| `") && !section.empty() && section != kFloorsSection) {
      const auto keyEnd = line.find("` |", 3);
      if (keyEnd == std::string::npos) continue;
      const auto unitEnd = line.find(" |", keyEnd + 3);
      reference.units[{section, line.substr(3, keyEnd - 3)}] = line.substr(keyEnd + 4, unitEnd - keyEnd - 4);
    }
  }
  return reference;
}

}  // namespace

TEST_CASE("each policy key is in the table once, and is found only in its own section") {
  std::set<std::pair<std::string_view, std::string_view>> seen;
  for (const auto& key : policyKeys()) {
    CAPTURE(key.section);
    CAPTURE(key.key);
    CHECK(seen.insert({key.section, key.key}).second);
    CHECK(findPolicyKey(key.section, key.key) == &key);
    CHECK(key.parse);
    CHECK(key.format);
  }
  CHECK(findPolicyKey("max", "interval") == nullptr);
  CHECK(findPolicyKey(kFloorsSection, "tcp_timeout_time_wait") == nullptr);
}

TEST_CASE("every key prints its built-in value as text that reads back to the same policy") {
  const Policy defaults;
  for (const auto& key : policyKeys()) {
    CAPTURE(key.section);
    CAPTURE(key.key);
    const auto text = key.format(defaults);
    if (!text) {
      CHECK(key.section == "metrics");  // only a metrics key may be off, and then left out
      continue;
    }
    Policy read;
    CHECK(key.parse(*text, read).empty());
    CHECK(read == defaults);
    CHECK(key.format(read) == text);
  }
}

TEST_CASE("the README's policy reference names the sections of the table, in its order") {
  const auto reference = parseReference(readmeSection("Policy reference"));
  std::vector<std::string> sections;
  for (const auto& section : policySections()) sections.emplace_back(section.name);
  CHECK(reference.sections == sections);
}

TEST_CASE("the README's policy reference has a row for every key of the table, with its unit, and no other") {
  const auto reference = parseReference(readmeSection("Policy reference"));
  for (const auto& key : policyKeys()) {
    CAPTURE(key.section);
    CAPTURE(key.key);
    const auto row = reference.units.find({std::string(key.section), std::string(key.key)});
    REQUIRE(row != reference.units.end());
    CAPTURE(row->second);
    CHECK(row->second.find(key.unit) != std::string::npos);
  }
  for (const auto& [where, unit] : reference.units) {
    CAPTURE(where.first);
    CAPTURE(where.second);
    CHECK(findPolicyKey(where.first, where.second) != nullptr);
  }
}

TEST_CASE("an unknown section or key is answered from the table") {
  CHECK(unknownSectionMessage("maxx") == "[maxx]: unknown section; did you mean [max]?");
  CHECK(unknownSectionMessage("zzzzzzzz") ==
        "[zzzzzzzz]: unknown section (sections: [controller], [max], [hashsize], [timeouts], [timeout_floors], "
        "[metrics])");
  CHECK(unknownKeyMessage("max", "ceilng") == "unknown key; did you mean ceiling?");
  CHECK(unknownKeyMessage("max", "interval") == "unknown key in [max]; interval belongs in [controller]");
  CHECK(unknownKeyMessage("metrics", "zzzzzzzz") == "unknown key (keys in [metrics]: textfile, listen)");
  CHECK(outsideSectionMessage("cooldown") == "cooldown: key outside any section; put it under [max] or [timeouts]");
}
