// SPDX-License-Identifier: Apache-2.0
#include "sysfs/sim/memory_knob_store.h"

#include <string>

#include "sysfs/knob_registry.h"

namespace ctpilot::sysfs {

std::string MemoryKnobStore::keyNetns(const Netns& netns, Knob knob) {
  return registryEntry(knob).scope == Scope::Global ? std::string("init") : netns.name;
}

Result<std::int64_t> MemoryKnobStore::read(const Netns& netns, Knob knob) const {
  const auto& entry = registryEntry(knob);
  if (missing_.contains(knob))
    return Error{Errc::Missing, "read " + std::string(entry.path) + ": No such file or directory"};
  const auto found = values_.find({keyNetns(netns, knob), knob});
  if (found == values_.end()) {
    return Error{Errc::Missing,
                 "read " + std::string(entry.path) + " in netns " + netns.name + ": No such file or directory"};
  }
  return found->second;
}

Result<std::int64_t> MemoryKnobStore::write(const Netns& netns, Knob knob, std::int64_t value) {
  const auto& entry = registryEntry(knob);
  const std::string path(entry.path);
  if (!entry.writable) return Error{Errc::Refused, "write " + path + ": not writable"};
  if (missing_.contains(knob)) return Error{Errc::Missing, "write " + path + ": No such file or directory"};
  // Like the kernel: global knobs are read-only outside the initial netns.
  if (entry.scope == Scope::Global && !netns.initial()) {
    return Error{Errc::Refused, "write " + path + " in netns " + netns.name + ": Permission denied"};
  }
  const auto key = std::make_pair(keyNetns(netns, knob), knob);
  if (readOnly_.contains(key)) return Error{Errc::Refused, "write " + path + ": Read-only file system"};
  if (value < 0) return Error{Errc::Rejected, "write " + path + ": Invalid argument"};
  writes_.push_back({key.first, knob, value});
  values_[key] = value;
  return value;
}

void MemoryKnobStore::set(const std::string& netns, Knob knob, std::int64_t value) {
  const std::string where = registryEntry(knob).scope == Scope::Global ? std::string("init") : netns;
  values_[{where, knob}] = value;
}

void MemoryKnobStore::makeReadOnly(const std::string& netns, Knob knob) {
  const std::string where = registryEntry(knob).scope == Scope::Global ? std::string("init") : netns;
  readOnly_.insert({where, knob});
}

void MemoryKnobStore::makeMissing(Knob knob) { missing_.insert(knob); }

}  // namespace ctpilot::sysfs
