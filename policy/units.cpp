// SPDX-License-Identifier: Apache-2.0
#include "policy/units.h"

#include <array>
#include <charconv>
#include <limits>
#include <system_error>

#include <fmt/format.h>

namespace ctpilot::policy {
namespace {

struct Suffix {
  std::string_view name;
  std::int64_t factor;
};

// Largest first: format* picks the first suffix that divides the value exactly.
constexpr std::array kDurationUnits{
    Suffix{"d", 86'400'000}, Suffix{"h", 3'600'000}, Suffix{"m", 60'000}, Suffix{"s", 1'000}, Suffix{"ms", 1},
};
// Binary multiples, as conntrack sizes are usually powers of two (262144 = 256k). Lower-case m and
// g are refused: "4m" reads like minutes or milli to an operator skimming a file.
constexpr std::array kCountUnits{
    Suffix{"G", 1024LL * 1024 * 1024},
    Suffix{"M", 1024LL * 1024},
    Suffix{"k", 1024},
    Suffix{"K", 1024},
};
constexpr std::array kSizeUnits{
    Suffix{"TiB", 1024LL * 1024 * 1024 * 1024},
    Suffix{"GiB", 1024LL * 1024 * 1024},
    Suffix{"MiB", 1024LL * 1024},
    Suffix{"KiB", 1024},
    Suffix{"B", 1},
};

bool isDigit(char c) { return c >= '0' && c <= '9'; }

// Splits "256k" into 256 and "k"; nullopt unless the text is digits followed by a known suffix
// (or none when `bare` is allowed), and the product fits in int64.
template <std::size_t N>
std::optional<std::int64_t> parseScaled(std::string_view text, const std::array<Suffix, N>& units, bool bare) {
  std::size_t digits = 0;
  while (digits < text.size() && isDigit(text[digits])) ++digits;
  if (digits == 0) return std::nullopt;
  std::int64_t number = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + digits, number);
  if (ec != std::errc{} || end != text.data() + digits) return std::nullopt;
  const auto suffix = text.substr(digits);
  std::int64_t factor = 0;
  if (suffix.empty()) {
    if (!bare) return std::nullopt;
    factor = 1;
  } else {
    for (const auto& unit : units) {
      if (unit.name == suffix) factor = unit.factor;
    }
    if (factor == 0) return std::nullopt;
  }
  if (number > std::numeric_limits<std::int64_t>::max() / factor) return std::nullopt;
  return number * factor;
}

template <std::size_t N>
std::string formatScaled(std::int64_t value, const std::array<Suffix, N>& units, std::string_view zero) {
  if (value == 0) return std::string(zero);
  for (const auto& unit : units) {
    if (unit.factor > 1 && value % unit.factor == 0)
      return std::to_string(value / unit.factor) + std::string(unit.name);
  }
  return std::to_string(value);
}

// Decimal number without sign or exponent: "0.8", "80", "12.5".
std::optional<double> parseDecimal(std::string_view text) {
  if (text.empty() || !isDigit(text.front()) || !isDigit(text.back())) return std::nullopt;
  bool point = false;
  for (const char c : text) {
    if (c == '.') {
      if (point) return std::nullopt;
      point = true;
    } else if (!isDigit(c)) {
      return std::nullopt;
    }
  }
  double value = 0.0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value, std::chars_format::fixed);
  if (ec != std::errc{} || end != text.data() + text.size()) return std::nullopt;
  return value;
}

std::string trimZeros(std::string text) {
  if (text.find('.') == std::string::npos) return text;
  while (text.back() == '0') text.pop_back();
  if (text.back() == '.') text.pop_back();
  return text;
}

}  // namespace

std::optional<Duration> parseDuration(std::string_view text) {
  const auto ms = parseScaled(text, kDurationUnits, /*bare=*/false);
  if (!ms) return std::nullopt;
  return Duration{*ms};
}

std::optional<std::int64_t> parseCount(std::string_view text) { return parseScaled(text, kCountUnits, /*bare=*/true); }

std::optional<std::int64_t> parseSize(std::string_view text) { return parseScaled(text, kSizeUnits, /*bare=*/true); }

std::optional<Ratio> parseRatio(std::string_view text) {
  const bool percent = !text.empty() && text.back() == '%';
  const auto number = parseDecimal(percent ? text.substr(0, text.size() - 1) : text);
  if (!number) return std::nullopt;
  const double value = percent ? *number / 100.0 : *number;
  if (value < 0.0 || value > 1.0) return std::nullopt;
  return Ratio{value};
}

std::string formatDuration(Duration d) {
  if (d.count() < 0) return "-" + formatDuration(-d);
  const auto ms = d.count();
  if (ms == 0) return "0s";
  for (const auto& unit : kDurationUnits) {
    if (ms % unit.factor == 0) return std::to_string(ms / unit.factor) + std::string(unit.name);
  }
  return std::to_string(ms) + "ms";
}

std::string formatCount(std::int64_t n) {
  if (n < 0) return std::to_string(n);
  // Skip "K": "k" is the spelling formatCount writes; parseCount accepts both.
  const std::array units{kCountUnits[0], kCountUnits[1], kCountUnits[2]};
  return formatScaled(n, units, "0");
}

std::string formatSize(std::int64_t bytes) {
  if (bytes < 0) return std::to_string(bytes);
  return formatScaled(bytes, kSizeUnits, "0");
}

std::string formatBytes(std::int64_t bytes) {
  for (const auto& unit : kSizeUnits) {
    if (unit.factor > 1 && bytes >= unit.factor) {
      return fmt::format("{:.1f} {}", static_cast<double>(bytes) / static_cast<double>(unit.factor), unit.name);
    }
  }
  return fmt::format("{} B", bytes);
}

std::string formatRatio(Ratio r) {
  // The shortest percentage that reads back as exactly the same double; a plain decimal when
  // no percentage does (parseRatio divides by 100, which can round).
  std::array<char, 64> buf{};
  for (int decimals = 0; decimals <= 12; ++decimals) {
    const auto [end, ec] =
        std::to_chars(buf.data(), buf.data() + buf.size(), r.value * 100.0, std::chars_format::fixed, decimals);
    if (ec != std::errc{}) break;
    auto text = trimZeros(std::string(buf.data(), end)) + "%";
    if (const auto back = parseRatio(text); back && back->value == r.value) return text;
  }
  const auto [end, ec] = std::to_chars(buf.data(), buf.data() + buf.size(), r.value, std::chars_format::fixed);
  if (ec != std::errc{}) return std::to_string(r.value);
  return std::string(buf.data(), end);
}

}  // namespace ctpilot::policy
