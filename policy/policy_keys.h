// SPDX-License-Identifier: Apache-2.0
#pragma once
// The keys of a policy file, in one table: the reader (parsePolicy), the printer (formatPolicy),
// the "did you mean" of unknown keys and the README check all derive from it (README "Code map").

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "policy/policy.h"
#include "policy/result.h"

namespace ctpilot::policy {

/// The section whose keys are the timeouts themselves (policyKeys() has no rows for it).
inline constexpr std::string_view kFloorsSection = "timeout_floors";

/// A key of a policy file by its section and name.
struct KeyName {
  std::string_view section;  // "max"
  std::string_view key;      // "ceiling"
};

/// The keys that checks across keys and their messages name: policyKeys() rows use these same
/// constants, so each name is written once. A key no other code names is written in its row.
namespace keys {
inline constexpr KeyName kInterval{"controller", "interval"};
inline constexpr KeyName kFastInterval{"controller", "fast_interval"};
inline constexpr KeyName kTraceFile{"controller", "trace_file"};
inline constexpr KeyName kCeiling{"max", "ceiling"};
inline constexpr KeyName kHighWater{"max", "high_water"};
inline constexpr KeyName kTargetFill{"max", "target_fill"};
inline constexpr KeyName kMargin{"max", "margin"};
inline constexpr KeyName kMaxCooldown{"max", "cooldown"};
inline constexpr KeyName kMinInterval{"hashsize", "min_interval"};
inline constexpr KeyName kTimeoutsMode{"timeouts", "mode"};
inline constexpr KeyName kShortenAt{"timeouts", "shorten_at"};
inline constexpr KeyName kRelaxBelow{"timeouts", "relax_below"};
inline constexpr KeyName kTimeoutsCooldown{"timeouts", "cooldown"};
inline constexpr KeyName kOrder{"timeouts", "order"};
inline constexpr KeyName kShed{"timeouts", "shed"};
inline constexpr KeyName kShedCooldown{"timeouts", "shed_cooldown"};
inline constexpr KeyName kTextfile{"metrics", "textfile"};
}  // namespace keys

/// One section of a policy file, in the order formatPolicy prints them.
struct PolicySection {
  std::string_view name;     // "max"
  std::string_view comment;  // printed under the header by formatPolicy
};

/// One key of a policy file: where it lives, how its value is read and how it is printed.
struct PolicyKey {
  /// Reads `value` into the policy; returns what is wrong with it (empty when it is fine).
  using Parse = std::function<std::vector<std::string>(std::string_view value, Policy& policy)>;
  /// Prints the key's value as Parse reads it back; nullopt leaves the key out of the file.
  using Format = std::function<std::optional<std::string>(const Policy& policy)>;
  std::string_view section;  // "max"
  std::string_view key;      // "ceiling"
  std::string_view unit;     // in the README's unit column: "duration", "count", "ratio", "size", "boolean", ""
  Parse parse;
  Format format;
  std::string_view comment = {};  // printed above the key by formatPolicy ("" for none)
};

/// Returns every section of a policy file, in file order.
const std::vector<PolicySection>& policySections();

/// Returns every key of a policy file, section by section in file order.
const std::vector<PolicyKey>& policyKeys();

/// Returns the key `key` of `[section]`, or nullptr when there is none.
const PolicyKey* findPolicyKey(std::string_view section, std::string_view key);

/// Says what is wrong with `[section]` when it is not a section: "did you mean" or the list.
std::string unknownSectionMessage(std::string_view section);

/// Says what is wrong with `key` in `[section]` when it is not a key there: the section it
/// belongs in, a "did you mean", or the keys of the section.
std::string unknownKeyMessage(std::string_view section, std::string_view key);

/// Says where `key`, written before any section header, belongs.
std::string outsideSectionMessage(std::string_view key);

/// Says that `name` is not a conntrack timeout, with a "did you mean" when one is close.
std::string unknownTimeout(std::string_view name);

/// Reads a [timeout_floors] value for `knob`: whole seconds from 1s to the kernel default;
/// Errc::Malformed with the message when it is not.
Result<std::int64_t> parseFloor(Knob knob, std::string_view value);

/// Returns `text` in double quotes, as messages quote the file's own words.
std::string quoted(std::string_view text);

}  // namespace ctpilot::policy
