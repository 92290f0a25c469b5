// SPDX-License-Identifier: Apache-2.0
#include <string>
#include <utility>
#include <vector>

#include <prometheus/counter.h>
#include <prometheus/gauge.h>
#include <prometheus/registry.h>
#include <prometheus/text_serializer.h>

#include "controller/build_info.h"
#include "controller/metrics/snapshot.h"

namespace ctpilot::controller::metrics {
namespace {

using prometheus::Labels;
using prometheus::Registry;

prometheus::Family<prometheus::Gauge>& gauge(Registry& registry, const std::string& name, const std::string& help) {
  return prometheus::BuildGauge().Name(name).Help(help).Register(registry);
}

prometheus::Family<prometheus::Counter>& counter(Registry& registry, const std::string& name, const std::string& help) {
  return prometheus::BuildCounter().Name(name).Help(help).Register(registry);
}

double num(std::int64_t value) { return static_cast<double>(value); }

void addNetns(Registry& r, const MetricsSnapshot& s) {
  auto& entries = gauge(r, "ctpilot_conntrack_entries", "Entries in the conntrack table of the namespace");
  auto& fill = gauge(r, "ctpilot_conntrack_fill_ratio", "Entries divided by nf_conntrack_max");
  auto& growth = gauge(r, "ctpilot_conntrack_growth_per_second", "Growth of the entries, per second (robust fit)");
  auto& toFull = gauge(r, "ctpilot_conntrack_seconds_to_full",
                       "Seconds until the table is full at the current growth; +Inf when not growing");
  auto& timeout = gauge(r, "ctpilot_conntrack_timeout_seconds", "Conntrack timeout in force, in seconds");
  // The counters that are metrics, in the table's order (sysfs/counters.h).
  std::vector<std::pair<prometheus::Family<prometheus::Counter>*, std::uint64_t CounterTotals::*>> counters;
  for (const auto& f : sysfs::counterFields()) {
    if (f.metricHelp == nullptr) continue;
    counters.emplace_back(&counter(r, std::string("ctpilot_conntrack_") + f.name + "_total", f.metricHelp), f.total);
  }

  for (const auto& n : s.netns) {
    const Labels labels{{"netns", n.netns}};
    entries.Add(labels).Set(num(n.entries));
    fill.Add(labels).Set(n.fill);
    growth.Add(labels).Set(n.growthPerSec);
    toFull.Add(labels).Set(n.secondsToFull);
    if (n.countersKnown) {
      for (const auto& [family, total] : counters)
        family->Add(labels).Increment(static_cast<double>(n.counters.*total));
    }
    for (const auto& [name, seconds] : n.timeouts) {
      timeout.Add({{"netns", n.netns}, {"timeout", name}}).Set(num(seconds));
    }
  }
}

void addGlobals(Registry& r, const MetricsSnapshot& s) {
  gauge(r, "ctpilot_conntrack_max", "nf_conntrack_max, the table limit").Add({}).Set(num(s.max));
  gauge(r, "ctpilot_conntrack_buckets", "nf_conntrack_buckets, the hash table size").Add({}).Set(num(s.buckets));
  gauge(r, "ctpilot_conntrack_max_effective_ceiling",
        "The highest nf_conntrack_max the policy allows now: min(ceiling, memory budget)")
      .Add({})
      .Set(num(s.effectiveCeiling));
  gauge(r, "ctpilot_sampled", "1 when the last tick could read nf_conntrack").Add({}).Set(s.sampled ? 1 : 0);
}

void addControl(Registry& r, const MetricsSnapshot& s) {
  auto& managed = gauge(r, "ctpilot_knob_managed", "1 when ctpilot manages the knob now, else 0");
  auto& unmanaged = gauge(r, "ctpilot_knob_unmanaged",
                          "1 for the reason ctpilot leaves the knob alone: external, hold, unwritable, disabled");
  for (const auto& k : s.knobs) {
    const bool isManaged = k.state == "managed";
    managed.Add({{"knob", k.knob}, {"netns", k.netns}}).Set(isManaged ? 1 : 0);
    if (!isManaged) unmanaged.Add({{"knob", k.knob}, {"netns", k.netns}, {"reason", k.state}}).Set(1);
  }
  auto& changes =
      counter(r, "ctpilot_changes_total", "Knob changes since start, by outcome (applied, failed, planned: dry run)");
  for (const auto& [key, count] : s.changes) {
    const auto& [knob, netns, outcome] = key;
    changes.Add({{"knob", knob}, {"netns", netns}, {"outcome", outcome}}).Increment(static_cast<double>(count));
  }
  auto& held = counter(r, "ctpilot_decisions_held_total",
                       "Changes decide() wanted but held back, by reason code, once per tick while held");
  for (const auto& [reason, count] : s.held) held.Add({{"reason", reason}}).Increment(static_cast<double>(count));
  gauge(r, "ctpilot_last_tick_timestamp_seconds", "Unix time of the last completed tick")
      .Add({})
      .Set(s.lastTickSeconds);
  gauge(r, "ctpilot_last_tick_duration_seconds", "How long the last tick took").Add({}).Set(s.lastTickDurationSeconds);
  gauge(r, "ctpilot_last_reload_success", "1 when the last policy reload succeeded (or none was asked for)")
      .Add({})
      .Set(s.lastReloadOk ? 1 : 0);
  gauge(r, "ctpilot_dry_run", "1 when ctpilot only plans and never writes a knob").Add({}).Set(s.dryRun ? 1 : 0);
  gauge(r, "ctpilot_build_info", "Version and source revision of ctpilot; always 1")
      .Add({{"version", s.version}, {"revision", s.revision}})
      .Set(1);
}

}  // namespace

std::string exposition(const MetricsSnapshot& snapshot) {
  Registry registry;
  addNetns(registry, snapshot);
  addGlobals(registry, snapshot);
  addControl(registry, snapshot);
  return prometheus::TextSerializer().Serialize(registry.Collect());
}

std::string buildVersion() { return std::string(buildInfo().version); }
std::string buildRevision() { return std::string(buildInfo().revision); }

}  // namespace ctpilot::controller::metrics
