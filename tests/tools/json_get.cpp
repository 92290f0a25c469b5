// SPDX-License-Identifier: Apache-2.0
// ctpilot-json-get: prints one value of a JSON document read from stdin, so the shell tests
// need no jq (not a build dependency).
//
//   ctpilot-json-get PATH [DEFAULT] < document.json
//
// PATH is a JSON pointer (RFC 6901: /namespaces/0/count) in which a segment KEY=VALUE picks
// the first array element whose member KEY equals VALUE as a string or a number:
// /namespaces/name=ctp-1-router/count. A segment "#" prints an array's or object's length.
// A segment "*" maps the rest of the path over every element of an array (or every member of
// an object) and prints one line per element that has it: /*/kind lists every record's kind.
// Strings print without quotes; other values print as compact JSON. When the path does not
// exist, DEFAULT is printed if given, else the tool exits 1 naming the missing segment.
// If stdin holds several JSON documents (JSON Lines), the last one is used.

#include <iostream>
#include <sstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace {

std::vector<std::string> splitPath(const std::string& path) {
  std::vector<std::string> segments;
  if (path.empty() || path == "/") return segments;
  std::size_t start = path.front() == '/' ? 1 : 0;
  while (start <= path.size()) {
    const auto slash = path.find('/', start);
    std::string segment = path.substr(start, slash == std::string::npos ? std::string::npos : slash - start);
    // RFC 6901 escapes.
    for (std::size_t at = 0; (at = segment.find("~1", at)) != std::string::npos;) segment.replace(at, 2, "/");
    for (std::size_t at = 0; (at = segment.find("~0", at)) != std::string::npos;) segment.replace(at, 2, "~");
    segments.push_back(segment);
    if (slash == std::string::npos) break;
    start = slash + 1;
  }
  return segments;
}

void printValue(const nlohmann::json& value) {
  std::cout << (value.is_string() ? value.get<std::string>() : value.dump()) << "\n";
}

// Follows `segments` from `at`; returns the segment that was missing, or "" when found/printed.
std::string walk(const nlohmann::json* at, const std::vector<std::string>& segments, std::size_t from);

bool matches(const nlohmann::json& value, const std::string& text) {
  if (value.is_string()) return value.get<std::string>() == text;
  return value.dump() == text;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2 || argc > 3) {
    std::cerr << "usage: ctpilot-json-get PATH [DEFAULT] < document.json\n";
    return 2;
  }
  const std::string path = argv[1];
  const bool hasDefault = argc == 3;
  std::stringstream input;
  input << std::cin.rdbuf();
  nlohmann::json doc;
  std::string line;
  bool parsed = false;
  // A single document (possibly spread over lines) first; then JSON Lines, the last one wins.
  try {
    doc = nlohmann::json::parse(input.str());
    parsed = true;
  } catch (const nlohmann::json::exception&) {
    std::istringstream lines(input.str());
    while (std::getline(lines, line)) {
      try {
        doc = nlohmann::json::parse(line);
        parsed = true;
      } catch (const nlohmann::json::exception&) {}
    }
  }
  if (!parsed) {
    std::cerr << "ctpilot-json-get: stdin holds no JSON document\n";
    return 1;
  }
  const auto segments = splitPath(path);
  const std::string missing = walk(&doc, segments, 0);
  if (!missing.empty()) {
    if (hasDefault) {
      std::cout << argv[2] << "\n";
      return 0;
    }
    std::cerr << "ctpilot-json-get: " << path << ": " << missing << "\n";
    return 1;
  }
  return 0;
}

namespace {

std::string walk(const nlohmann::json* at, const std::vector<std::string>& segments, std::size_t from) {
  for (std::size_t i = from; i < segments.size(); ++i) {
    const auto& segment = segments[i];
    if (segment == "*" && (at->is_array() || at->is_object())) {
      for (const auto& element : *at) walk(&element, segments, i + 1);
      return "";
    }
    if (segment == "#" && (at->is_array() || at->is_object())) {
      std::cout << at->size() << "\n";
      return "";
    }
    const nlohmann::json* next = nullptr;
    const auto eq = segment.find('=');
    if (at->is_array() && eq != std::string::npos) {
      const auto key = segment.substr(0, eq);
      const auto want = segment.substr(eq + 1);
      for (const auto& element : *at) {
        if (element.is_object() && element.contains(key) && matches(element[key], want)) {
          next = &element;
          break;
        }
      }
    } else if (at->is_array()) {
      const bool digits = !segment.empty() && segment.find_first_not_of("0123456789") == std::string::npos;
      if (digits && std::stoul(segment) < at->size()) next = &(*at)[std::stoul(segment)];
    } else if (at->is_object() && at->contains(segment)) {
      next = &(*at)[segment];
    }
    if (next == nullptr) return "no '" + segment + "' in " + at->dump().substr(0, 200);
    at = next;
  }
  printValue(*at);
  return "";
}

}  // namespace
