// SPDX-License-Identifier: Apache-2.0
#include <doctest/doctest.h>

#include <limits>
#include <string>

#include "policy/units.h"

using namespace ctpilot::policy;

TEST_CASE("durations are a whole number with a unit from ms to d") {
  struct Row {
    std::string text;
    std::int64_t ms;
  };
  const Row rows[] = {
      {"500ms", 500},      {"0s", 0},  {"30s", 30'000}, {"5m", 300'000}, {"2h", 7'200'000},
      {"5d", 432'000'000}, {"1ms", 1}, {"007s", 7'000}, {"90s", 90'000},
  };
  for (const auto& row : rows) {
    CAPTURE(row.text);
    const auto parsed = parseDuration(row.text);
    REQUIRE(parsed.has_value());
    CHECK(parsed->count() == row.ms);
  }
}

TEST_CASE("durations without a unit, with junk, negative or too large are refused") {
  const std::string rows[] = {"",
                              "30",
                              "s",
                              "-5s",
                              "1.5h",
                              "30 s",
                              " 30s",
                              "30s ",
                              "30sec",
                              "5min",
                              "1w",
                              "5M",
                              "0x10s",
                              "+5s",
                              "5ss",
                              "9223372036854775807d",
                              "99999999999999999999ms"};
  for (const auto& text : rows) {
    CAPTURE(text);
    CHECK_FALSE(parseDuration(text).has_value());
  }
}

TEST_CASE("counts take k, M and G as powers of 1024") {
  struct Row {
    std::string text;
    std::int64_t value;
  };
  const Row rows[] = {
      {"0", 0},
      {"262144", 262'144},
      {"256k", 262'144},
      {"256K", 262'144},
      {"4M", 4'194'304},
      {"1G", 1'073'741'824},
      {"2147483647", 2'147'483'647},
      {"9223372036854775807", std::numeric_limits<std::int64_t>::max()},
  };
  for (const auto& row : rows) {
    CAPTURE(row.text);
    const auto parsed = parseCount(row.text);
    REQUIRE(parsed.has_value());
    CHECK(*parsed == row.value);
  }
}

TEST_CASE("counts with junk, decimal points, signs or overflow are refused") {
  const std::string rows[] = {
      "", "4X", "k", "-1", "1.5M", "4m", "4g", "4 M", "4MiB", "1e6", "0x10", "9223372036854775808", "8589934592G"};
  for (const auto& text : rows) {
    CAPTURE(text);
    CHECK_FALSE(parseCount(text).has_value());
  }
}

TEST_CASE("sizes take binary units KiB to TiB, B, or plain bytes") {
  struct Row {
    std::string text;
    std::int64_t bytes;
  };
  const Row rows[] = {
      {"4096", 4096},      {"4096B", 4096},     {"1KiB", 1024}, {"512MiB", 512LL * 1024 * 1024},
      {"2GiB", 2LL << 30}, {"1TiB", 1LL << 40},
  };
  for (const auto& row : rows) {
    CAPTURE(row.text);
    const auto parsed = parseSize(row.text);
    REQUIRE(parsed.has_value());
    CHECK(*parsed == row.bytes);
  }
  const std::string bad[] = {"", "2GB", "2G", "2 GiB", "-1", "1.5GiB", "16777216TiB", "MiB"};
  for (const auto& text : bad) {
    CAPTURE(text);
    CHECK_FALSE(parseSize(text).has_value());
  }
}

TEST_CASE("ratios are a percentage or a fraction between 0 and 1") {
  struct Row {
    std::string text;
    double value;
  };
  const Row rows[] = {
      {"80%", 0.8}, {"0.8", 0.8}, {"0", 0.0}, {"1", 1.0}, {"100%", 1.0}, {"0%", 0.0}, {"12.5%", 0.125}, {"1.0", 1.0},
  };
  for (const auto& row : rows) {
    CAPTURE(row.text);
    const auto parsed = parseRatio(row.text);
    REQUIRE(parsed.has_value());
    CHECK(parsed->value == doctest::Approx(row.value));
  }
  const std::string bad[] = {"",    "%",   "80",   "101%", "1.01", "-0.1", "80%%", "0.8x",
                             "nan", "inf", "1e-1", ".5",   "5.",   "80 %", "0..5"};
  for (const auto& text : bad) {
    CAPTURE(text);
    CHECK_FALSE(parseRatio(text).has_value());
  }
}

TEST_CASE("formatted units use the largest exact unit and read back to the same value") {
  SUBCASE("durations") {
    struct Row {
      std::int64_t ms;
      std::string text;
    };
    const Row rows[] = {{0, "0s"},        {500, "500ms"},    {1'500, "1500ms"},  {90'000, "90s"},    {60'000, "1m"},
                        {900'000, "15m"}, {3'600'000, "1h"}, {86'400'000, "1d"}, {432'000'000, "5d"}};
    for (const auto& row : rows) {
      CAPTURE(row.ms);
      CHECK(formatDuration(Duration{row.ms}) == row.text);
      CHECK(parseDuration(formatDuration(Duration{row.ms})) == Duration{row.ms});
    }
  }
  SUBCASE("counts") {
    struct Row {
      std::int64_t n;
      std::string text;
    };
    const Row rows[] = {{0, "0"},
                        {1000, "1000"},
                        {1024, "1k"},
                        {262'144, "256k"},
                        {4'194'304, "4M"},
                        {1LL << 30, "1G"},
                        {2'147'483'647, "2147483647"},
                        {3LL << 40, "3072G"}};
    for (const auto& row : rows) {
      CAPTURE(row.n);
      CHECK(formatCount(row.n) == row.text);
      CHECK(parseCount(formatCount(row.n)) == row.n);
    }
  }
  SUBCASE("sizes") {
    for (const std::int64_t bytes : {0LL, 1LL, 4096LL, 512LL << 20, 2LL << 30, 3LL << 40, 1'000'000LL}) {
      CAPTURE(bytes);
      CHECK(parseSize(formatSize(bytes)) == bytes);
    }
    CHECK(formatSize(512LL << 20) == "512MiB");
    CHECK(formatSize(2LL << 30) == "2GiB");
  }
  SUBCASE("byte counts for reading: one decimal in the largest binary unit reached, plain bytes below 1 KiB") {
    struct Row {
      std::int64_t bytes;
      const char* text;
    };
    const Row rows[] = {
        {0, "0 B"},
        {1023, "1023 B"},
        {1024, "1.0 KiB"},
        {1536, "1.5 KiB"},
        {(1LL << 20) - 1, "1024.0 KiB"},  // rounds like printf's %.1f: the unit is chosen before
        {84'410'368, "80.5 MiB"},
        {16LL << 30, "16.0 GiB"},
        {(3LL << 40) + (1LL << 39), "3.5 TiB"},
        {-5, "-5 B"},
    };
    for (const auto& row : rows) {
      CAPTURE(row.bytes);
      CHECK(formatBytes(row.bytes) == row.text);
    }
  }
  SUBCASE("ratios, even ones no short percentage can hold") {
    CHECK(formatRatio({0.8}) == "80%");
    CHECK(formatRatio({0.125}) == "12.5%");
    CHECK(formatRatio({1.0}) == "100%");
    for (const double value :
         {0.0, 0.01, 0.1, 0.25, 0.333, 0.5, 0.8, 0.95, 0.99, 1.0, 1.0 / 3.0, 0.123456789, 0.7 + 1e-16}) {
      CAPTURE(value);
      const auto back = parseRatio(formatRatio({value}));
      REQUIRE(back.has_value());
      CHECK(back->value == value);
    }
  }
}
