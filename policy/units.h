// SPDX-License-Identifier: Apache-2.0
#pragma once
// Units in policy files: durations 500ms 30s 5m 2h 5d; counts 262144 256k 4M;
// sizes 512MiB 2GiB; ratios 80% or 0.8.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "policy/policy.h"

namespace ctpilot::policy {

/// Parses a duration ("500ms", "30s", "5m", "2h", "5d"); nullopt when malformed or negative.
std::optional<Duration> parseDuration(std::string_view text);
/// Parses a count ("262144", "256k", "4M", "1G"; k = 1024); nullopt when malformed.
std::optional<std::int64_t> parseCount(std::string_view text);
/// Parses a size in bytes ("512MiB", "2GiB", "4096"); nullopt when malformed.
std::optional<std::int64_t> parseSize(std::string_view text);
/// Parses a ratio ("80%", "0.8"); nullopt when malformed or outside [0, 1].
std::optional<Ratio> parseRatio(std::string_view text);

/// Formats a duration in the largest unit that divides it exactly ("90s", "15m", "500ms").
std::string formatDuration(Duration d);
/// Formats a count with k/M suffix when exact ("4M", "256k", "1000").
std::string formatCount(std::int64_t n);
/// Formats a size in bytes with the largest binary unit that divides it exactly ("512MiB", "4096").
std::string formatSize(std::int64_t bytes);
/// Formats a byte count for reading, in the largest binary unit it reaches with one decimal
/// ("512 B", "1.5 KiB", "80.5 MiB", "16.0 GiB"); formatSize writes the exact policy-file spelling.
std::string formatBytes(std::int64_t bytes);
/// Formats a ratio as a percentage ("80%").
std::string formatRatio(Ratio r);

}  // namespace ctpilot::policy
