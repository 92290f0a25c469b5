// SPDX-License-Identifier: Apache-2.0
// ctpilot-loadgen: the load generator of the real-kernel tests and benchmarks.
//
//   ctpilot-loadgen [--netns NAME] tcp-churn --target IP:PORT[,PORT...] --rate N[/s] --duration D
//                                            [--concurrency C] [--timeout D] [--count N]
//                                            [--close server|client]
//   ctpilot-loadgen [--netns NAME] udp-flows --target IP:PORT[,PORT...] --rate N[/s] --duration D
//                                            [--count N] [--source-ports LO-HI]
//   ctpilot-loadgen [--netns NAME] serve --listen IP:PORT[,PORT...] [--udp] [--duration D]
//
// One thread, non-blocking sockets and epoll, paced by a 1 ms timerfd. Every mode is bounded in
// time (and optionally in count), stops by itself, stops early on SIGINT/SIGTERM, and prints one
// JSON line with what it did on stdout when it ends.
//
// Safety: it only sends to loopback, or (with --netns) to documentation, link-local or ULA
// addresses, which exist only on the veths the tests create inside their own namespaces.

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sched.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <deque>
#include <iostream>
#include <map>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace {

using Clock = std::chrono::steady_clock;
using Seconds = std::chrono::duration<double>;

constexpr int kExitOk = 0;
constexpr int kExitFailure = 1;
constexpr int kExitUsage = 2;

// A hard cap on every run, whatever the flags say: a forgotten generator must not run for hours.
constexpr Seconds kMaxDuration{900.0};

const char* const kUsage =
    "usage: ctpilot-loadgen [--netns NAME] MODE [OPTIONS]\n"
    "  tcp-churn --target IP:PORT[,PORT...] --rate N[/s] --duration D [--concurrency C]\n"
    "            [--timeout D] [--count N] [--close server|client]\n"
    "      open and close TCP connections at N per second; with --close server (default) the\n"
    "      server closes first, so conntrack entries end ASSURED in TIME_WAIT and client ports\n"
    "      are free again at once\n"
    "  udp-flows --target IP:PORT[,PORT...] --rate N[/s] --duration D [--count N]\n"
    "            [--source-ports LO-HI]\n"
    "      send one datagram from each of N distinct source ports per second (one-way flows)\n"
    "  serve --listen IP:PORT[,PORT...] [--udp] [--duration D]\n"
    "      accept and close TCP connections (or discard UDP datagrams) until D has passed\n"
    "Durations: 500ms, 10s, 2m. Ports: 8000,8001 or 8000-8031. IPv6: [fd00::1]:80.\n"
    "Targets: loopback; with --netns also 192.0.2.0/24, 198.51.100.0/24, 203.0.113.0/24,\n"
    "169.254.0.0/16, fc00::/7 and fe80::/10 (addresses the tests put on their own veths).\n"
    "On exit prints one JSON line: attempted, connected, failed, elapsed_s, achieved rates.\n";

struct UsageError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

std::int64_t parseCount(const std::string& flag, const std::string& text) {
  std::size_t used = 0;
  long long value = 0;
  try {
    value = std::stoll(text, &used);
  } catch (const std::exception&) {
    used = 0;
  }
  if (used != text.size() || value < 0) {
    throw UsageError(flag + " " + text + ": expected a non-negative whole number");
  }
  return value;
}

double parseRate(const std::string& text) {
  std::string number = text;
  if (number.size() > 2 && number.ends_with("/s")) number.resize(number.size() - 2);
  std::size_t used = 0;
  double value = 0;
  try {
    value = std::stod(number, &used);
  } catch (const std::exception&) {
    used = 0;
  }
  if (used != number.size() || !(value > 0) || value > 1e7) {
    throw UsageError("--rate " + text + ": expected a rate such as 2000/s (0 < rate <= 10M)");
  }
  return value;
}

Seconds parseDuration(const std::string& flag, const std::string& text) {
  std::size_t used = 0;
  double value = 0;
  try {
    value = std::stod(text, &used);
  } catch (const std::exception&) {
    used = 0;
  }
  const std::string unit = used == 0 ? "" : text.substr(used);
  static const std::map<std::string, double> kUnits{{"ms", 0.001}, {"s", 1.0}, {"m", 60.0}};
  const auto found = kUnits.find(unit);
  if (used == 0 || found == kUnits.end() || value < 0) {
    throw UsageError(flag + " " + text + ": expected a duration such as 500ms, 10s or 2m");
  }
  const Seconds duration{value * found->second};
  if (duration > kMaxDuration) {
    throw UsageError(flag + " " + text + ": at most " + std::to_string(int(kMaxDuration.count())) + "s");
  }
  return duration;
}

std::vector<std::uint16_t> parsePorts(const std::string& flag, const std::string& text) {
  std::vector<std::uint16_t> ports;
  std::size_t start = 0;
  while (start <= text.size()) {
    const auto comma = text.find(',', start);
    const std::string item = text.substr(start, comma == std::string::npos ? std::string::npos : comma - start);
    const auto dash = item.find('-');
    const std::int64_t lo = parseCount(flag, item.substr(0, dash));
    const std::int64_t hi = dash == std::string::npos ? lo : parseCount(flag, item.substr(dash + 1));
    if (lo < 1 || hi > 65535 || hi < lo || hi - lo > 4096) {
      throw UsageError(flag + " " + text + ": ports are 1-65535, a range LO-HI at most 4096 long");
    }
    for (std::int64_t p = lo; p <= hi; ++p) ports.push_back(static_cast<std::uint16_t>(p));
    if (comma == std::string::npos) break;
    start = comma + 1;
  }
  return ports;
}

struct Endpoint {
  sockaddr_storage addr{};
  socklen_t len = 0;
  std::string text;
};

// "IP:PORT[,PORT...]" or "[IPV6]:PORT[,PORT...]" -> one endpoint per port.
std::vector<Endpoint> parseEndpoints(const std::string& flag, const std::string& text) {
  std::string host;
  std::string portText;
  if (text.starts_with("[")) {
    const auto close = text.find("]:");
    if (close == std::string::npos) throw UsageError(flag + " " + text + ": expected [IPV6]:PORT");
    host = text.substr(1, close - 1);
    portText = text.substr(close + 2);
  } else {
    const auto colon = text.find(':');
    if (colon == std::string::npos) throw UsageError(flag + " " + text + ": expected IP:PORT[,PORT...]");
    host = text.substr(0, colon);
    portText = text.substr(colon + 1);
  }
  std::vector<Endpoint> endpoints;
  for (const auto port : parsePorts(flag, portText)) {
    Endpoint ep;
    auto* v4 = reinterpret_cast<sockaddr_in*>(&ep.addr);
    auto* v6 = reinterpret_cast<sockaddr_in6*>(&ep.addr);
    if (inet_pton(AF_INET, host.c_str(), &v4->sin_addr) == 1) {
      v4->sin_family = AF_INET;
      v4->sin_port = htons(port);
      ep.len = sizeof(sockaddr_in);
    } else if (inet_pton(AF_INET6, host.c_str(), &v6->sin6_addr) == 1) {
      v6->sin6_family = AF_INET6;
      v6->sin6_port = htons(port);
      ep.len = sizeof(sockaddr_in6);
    } else {
      throw UsageError(flag + " " + text + ": '" + host + "' is not an IPv4 or IPv6 address");
    }
    ep.text = host + ":" + std::to_string(port);
    endpoints.push_back(ep);
  }
  return endpoints;
}

bool isLoopback(const Endpoint& ep) {
  if (ep.addr.ss_family == AF_INET) {
    const auto a = ntohl(reinterpret_cast<const sockaddr_in*>(&ep.addr)->sin_addr.s_addr);
    return (a >> 24) == 127;
  }
  return IN6_IS_ADDR_LOOPBACK(&reinterpret_cast<const sockaddr_in6*>(&ep.addr)->sin6_addr);
}

// Addresses that are never routed on the internet: the tests put them on their own veths.
bool isTestAddress(const Endpoint& ep) {
  if (ep.addr.ss_family == AF_INET) {
    const auto a = ntohl(reinterpret_cast<const sockaddr_in*>(&ep.addr)->sin_addr.s_addr);
    return (a >> 8) == 0xC00002 || (a >> 8) == 0xC63364 || (a >> 8) == 0xCB0071 ||  // TEST-NET-1/2/3
           (a >> 16) == 0xA9FE;                                                     // 169.254/16
  }
  const auto& b = reinterpret_cast<const sockaddr_in6*>(&ep.addr)->sin6_addr.s6_addr;
  return (b[0] & 0xFE) == 0xFC || (b[0] == 0xFE && (b[1] & 0xC0) == 0x80);  // fc00::/7, fe80::/10
}

void checkTargets(const std::vector<Endpoint>& targets, bool inOwnNetns) {
  for (const auto& ep : targets) {
    if (isLoopback(ep)) continue;
    if (!isTestAddress(ep)) {
      throw UsageError("--target " + ep.text +
                       ": only loopback or test addresses (TEST-NET, link-local, ULA) may be targeted");
    }
    if (!inOwnNetns) {
      throw UsageError("--target " + ep.text + ": a non-loopback target needs --netns (a namespace the test made)");
    }
  }
}

struct Args {
  std::string netns;
  std::string mode;
  std::map<std::string, std::string> options;
  bool udp = false;
};

Args parseArgs(int argc, char** argv) {
  Args args;
  static const std::map<std::string, std::vector<std::string>> kModeOptions{
      {"tcp-churn", {"--target", "--rate", "--duration", "--concurrency", "--timeout", "--count", "--close"}},
      {"udp-flows", {"--target", "--rate", "--duration", "--count", "--source-ports"}},
      {"serve", {"--listen", "--duration"}},
  };
  int i = 1;
  for (; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg == "-h" || arg == "--help") {
      std::cout << kUsage;
      std::exit(kExitOk);
    }
    if (arg == "--netns") {
      if (i + 1 >= argc) throw UsageError("--netns needs a name");
      args.netns = argv[++i];
      continue;
    }
    if (arg.starts_with("-")) throw UsageError("unknown option " + arg + " before the mode");
    args.mode = arg;
    ++i;
    break;
  }
  const auto modeOptions = kModeOptions.find(args.mode);
  if (modeOptions == kModeOptions.end()) {
    throw UsageError(args.mode.empty() ? "no mode given" : "unknown mode '" + args.mode + "'");
  }
  for (; i < argc; ++i) {
    const std::string arg = argv[i];
    if (args.mode == "serve" && arg == "--udp") {
      args.udp = true;
      continue;
    }
    const auto& allowed = modeOptions->second;
    if (std::find(allowed.begin(), allowed.end(), arg) == allowed.end()) {
      throw UsageError("unknown option " + arg + " for " + args.mode);
    }
    if (i + 1 >= argc) throw UsageError(arg + " needs a value");
    args.options[arg] = argv[++i];
  }
  return args;
}

const std::string& required(const Args& args, const std::string& flag) {
  const auto found = args.options.find(flag);
  if (found == args.options.end()) throw UsageError(args.mode + " needs " + flag);
  return found->second;
}

std::optional<std::string> optional(const Args& args, const std::string& flag) {
  const auto found = args.options.find(flag);
  if (found == args.options.end()) return std::nullopt;
  return found->second;
}

std::string errnoText(const std::string& what) { return what + ": " + std::strerror(errno); }

[[noreturn]] void fail(const std::string& what) {
  std::cerr << "ctpilot-loadgen: " << what << "\n";
  std::exit(kExitFailure);
}

// Enters /run/netns/NAME for the whole (single-threaded) process before any socket exists.
void enterNetns(const std::string& name) {
  if (name.empty()) return;
  const std::string path = name.find('/') == std::string::npos ? "/run/netns/" + name : name;
  const int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) fail(errnoText("open " + path) + " (create it with: ip netns add " + name + ")");
  if (setns(fd, CLONE_NEWNET) != 0) fail(errnoText("setns " + path) + " (needs root)");
  close(fd);
}

void raiseFileLimit() {
  rlimit limit{};
  if (getrlimit(RLIMIT_NOFILE, &limit) == 0 && limit.rlim_cur < limit.rlim_max) {
    limit.rlim_cur = limit.rlim_max;
    setrlimit(RLIMIT_NOFILE, &limit);
  }
}

// The shared machinery: epoll, a 1 ms pacing timer, SIGINT/SIGTERM as a file descriptor.
class Loop {
 public:
  Loop() {
    epoll_ = epoll_create1(EPOLL_CLOEXEC);
    timer_ = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
    sigset_t signals;
    sigemptyset(&signals);
    sigaddset(&signals, SIGINT);
    sigaddset(&signals, SIGTERM);
    sigprocmask(SIG_BLOCK, &signals, nullptr);
    signal_ = signalfd(-1, &signals, SFD_NONBLOCK | SFD_CLOEXEC);
    if (epoll_ < 0 || timer_ < 0 || signal_ < 0) fail(errnoText("epoll/timerfd/signalfd"));
    const itimerspec every{{0, 1'000'000}, {0, 1'000'000}};
    timerfd_settime(timer_, 0, &every, nullptr);
    add(timer_, EPOLLIN);
    add(signal_, EPOLLIN);
  }
  void add(int fd, std::uint32_t events) {
    epoll_event ev{};
    ev.events = events;
    ev.data.fd = fd;
    if (epoll_ctl(epoll_, EPOLL_CTL_ADD, fd, &ev) != 0) fail(errnoText("epoll_ctl add"));
  }
  void modify(int fd, std::uint32_t events) {
    epoll_event ev{};
    ev.events = events;
    ev.data.fd = fd;
    epoll_ctl(epoll_, EPOLL_CTL_MOD, fd, &ev);
  }
  // Waits for events; calls onTick after timer expirations and onEvent for every socket event.
  template <class Tick, class Event>
  void runOnce(Tick&& onTick, Event&& onEvent) {
    epoll_event events[512];
    const int n = epoll_wait(epoll_, events, 512, 100);
    bool ticked = false;
    for (int k = 0; k < n; ++k) {
      const int fd = events[k].data.fd;
      if (fd == timer_) {
        std::uint64_t expirations = 0;
        [[maybe_unused]] auto r = read(timer_, &expirations, sizeof expirations);
        ticked = true;
      } else if (fd == signal_) {
        signalfd_siginfo info{};
        [[maybe_unused]] auto r = read(signal_, &info, sizeof info);
        stopped_ = true;
      } else {
        onEvent(fd, events[k].events);
      }
    }
    if (ticked || n == 0) onTick();
  }
  bool stopped() const { return stopped_; }

 private:
  int epoll_ = -1;
  int timer_ = -1;
  int signal_ = -1;
  bool stopped_ = false;
};

double since(Clock::time_point start) { return Seconds(Clock::now() - start).count(); }

struct TcpCounters {
  std::int64_t attempted = 0;  // connect() issued
  std::int64_t connected = 0;  // handshake completed
  std::int64_t completed = 0;  // connected and closed cleanly after the server's FIN
  std::int64_t timeouts = 0;   // no handshake within --timeout (SYNs dropped)
  std::int64_t refused = 0;    // ECONNREFUSED (nothing listening)
  std::int64_t errors = 0;     // anything else (EADDRNOTAVAIL: out of local ports, ...)
  std::int64_t noFin = 0;      // connected but the server did not close within --timeout
  std::int64_t throttled = 0;  // ticks on which --concurrency held a start back
};

int tcpChurn(const Args& args) {
  const auto targets = parseEndpoints("--target", required(args, "--target"));
  checkTargets(targets, !args.netns.empty());
  const double rate = parseRate(required(args, "--rate"));
  const Seconds window = parseDuration("--duration", required(args, "--duration"));
  const std::int64_t concurrency = parseCount("--concurrency", optional(args, "--concurrency").value_or("4096"));
  const Seconds timeout = parseDuration("--timeout", optional(args, "--timeout").value_or("3s"));
  const std::int64_t limit = parseCount("--count", optional(args, "--count").value_or("1000000000"));
  const std::string closeMode = optional(args, "--close").value_or("server");
  if (closeMode != "server" && closeMode != "client") throw UsageError("--close " + closeMode + ": server or client");
  if (concurrency < 1) throw UsageError("--concurrency must be at least 1");
  const bool clientCloses = closeMode == "client";

  enterNetns(args.netns);
  raiseFileLimit();
  Loop loop;

  enum class Phase : std::uint8_t { Idle, Connecting, AwaitingFin };
  struct Conn {
    Phase phase = Phase::Idle;
    std::uint32_t generation = 0;
  };
  std::vector<Conn> conns(1024);
  struct Deadline {
    Clock::time_point at;
    int fd;
    std::uint32_t generation;
  };
  std::deque<Deadline> deadlines;  // FIFO: every connection gets the same timeout
  std::int64_t inflight = 0;
  TcpCounters c;

  auto finish = [&](int fd) {
    conns[fd].phase = Phase::Idle;
    ++conns[fd].generation;
    close(fd);
    --inflight;
  };
  auto connectError = [&](int fd, int err) {
    if (err == ECONNREFUSED) {
      ++c.refused;
    } else if (err == ETIMEDOUT) {
      ++c.timeouts;
    } else {
      ++c.errors;
    }
    finish(fd);
  };
  auto startOne = [&] {
    const auto& target = targets[static_cast<std::size_t>(c.attempted) % targets.size()];
    ++c.attempted;
    const int fd = socket(target.addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
      ++c.errors;
      return;
    }
    if (static_cast<std::size_t>(fd) >= conns.size()) conns.resize(static_cast<std::size_t>(fd) * 2);
    ++inflight;
    conns[fd].phase = Phase::Connecting;
    deadlines.push_back(
        {Clock::now() + std::chrono::duration_cast<Clock::duration>(timeout), fd, conns[fd].generation});
    if (connect(fd, reinterpret_cast<const sockaddr*>(&target.addr), target.len) != 0 && errno != EINPROGRESS) {
      connectError(fd, errno);
      return;
    }
    loop.add(fd, EPOLLOUT);
  };

  const auto start = Clock::now();
  double sendWindow = 0;
  bool sending = true;
  while (true) {
    loop.runOnce(
        [&] {
          const double elapsed = since(start);
          if (sending && (elapsed >= window.count() || c.attempted >= limit || loop.stopped())) {
            sending = false;
            sendWindow = std::min(elapsed, window.count());
          }
          if (sending) {
            const auto due = std::min(limit, static_cast<std::int64_t>(rate * elapsed));
            if (c.attempted < due && inflight >= concurrency) ++c.throttled;
            while (c.attempted < due && inflight < concurrency) startOne();
          }
          const auto now = Clock::now();
          while (!deadlines.empty() && deadlines.front().at <= now) {
            const auto d = deadlines.front();
            deadlines.pop_front();
            auto& conn = conns[d.fd];
            if (conn.generation != d.generation || conn.phase == Phase::Idle) continue;
            if (conn.phase == Phase::Connecting) {
              ++c.timeouts;
            } else {
              ++c.noFin;
            }
            finish(d.fd);
          }
        },
        [&](int fd, std::uint32_t events) {
          auto& conn = conns[fd];
          if (conn.phase == Phase::Connecting) {
            int err = 0;
            socklen_t len = sizeof err;
            getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len);
            if (err != 0) {
              connectError(fd, err);
              return;
            }
            if ((events & EPOLLOUT) == 0) return;
            ++c.connected;
            if (clientCloses) {
              ++c.completed;
              finish(fd);
              return;
            }
            conn.phase = Phase::AwaitingFin;
            loop.modify(fd, EPOLLIN | EPOLLRDHUP);
          } else if (conn.phase == Phase::AwaitingFin) {
            char buf[256];
            const auto n = read(fd, buf, sizeof buf);
            if (n > 0) return;  // the server sent data: keep waiting for its FIN
            if (n == 0)
              ++c.completed;
            else
              ++c.errors;
            finish(fd);
          }
        });
    if (!sending && (inflight == 0 || loop.stopped())) break;
  }
  const double elapsed = since(start);
  const double windowSeconds = sendWindow > 0 ? sendWindow : elapsed;
  const nlohmann::json report{
      {"mode", "tcp-churn"},
      {"netns", args.netns},
      {"close", closeMode},
      {"rate_requested", rate},
      {"attempted", c.attempted},
      {"connected", c.connected},
      {"completed", c.completed},
      {"failed", c.timeouts + c.refused + c.errors},
      {"timeouts", c.timeouts},
      {"refused", c.refused},
      {"errors", c.errors},
      {"no_fin", c.noFin},
      {"throttled_ticks", c.throttled},
      {"send_window_s", windowSeconds},
      {"elapsed_s", elapsed},
      {"rate_achieved", windowSeconds > 0 ? c.attempted / windowSeconds : 0.0},
      {"connect_rate", windowSeconds > 0 ? c.connected / windowSeconds : 0.0},
  };
  std::cout << report.dump() << std::endl;
  return kExitOk;
}

int udpFlows(const Args& args) {
  const auto targets = parseEndpoints("--target", required(args, "--target"));
  checkTargets(targets, !args.netns.empty());
  const double rate = parseRate(required(args, "--rate"));
  const Seconds window = parseDuration("--duration", required(args, "--duration"));
  const std::int64_t limit = parseCount("--count", optional(args, "--count").value_or("1000000000"));
  const std::string portsText = optional(args, "--source-ports").value_or("10000-60999");
  const auto dash = portsText.find('-');
  if (dash == std::string::npos) throw UsageError("--source-ports " + portsText + ": expected LO-HI");
  const auto lo = parseCount("--source-ports", portsText.substr(0, dash));
  const auto hi = parseCount("--source-ports", portsText.substr(dash + 1));
  if (lo < 1 || hi > 65535 || hi < lo) throw UsageError("--source-ports " + portsText + ": 1 <= LO <= HI <= 65535");

  enterNetns(args.netns);
  Loop loop;
  std::int64_t attempted = 0, sent = 0, failed = 0, portsInUse = 0;
  std::map<int, std::int64_t> errnos;
  std::int64_t nextPort = lo;

  // Each flow is a new socket bound to the next source port: distinct 5-tuples, one conntrack
  // entry each, never replied (so never ASSURED).
  auto sendOne = [&] {
    const auto& target = targets[static_cast<std::size_t>(attempted) % targets.size()];
    ++attempted;
    const int fd = socket(target.addr.ss_family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
      ++failed;
      ++errnos[errno];
      return;
    }
    sockaddr_storage local{};
    local.ss_family = target.addr.ss_family;
    socklen_t localLen = target.len;
    for (std::int64_t tries = 0; tries <= hi - lo; ++tries) {
      const auto port = htons(static_cast<std::uint16_t>(nextPort));
      nextPort = nextPort >= hi ? lo : nextPort + 1;
      if (local.ss_family == AF_INET) {
        reinterpret_cast<sockaddr_in*>(&local)->sin_port = port;
      } else {
        reinterpret_cast<sockaddr_in6*>(&local)->sin6_port = port;
      }
      if (bind(fd, reinterpret_cast<const sockaddr*>(&local), localLen) == 0) break;
      ++portsInUse;
    }
    const char payload[] = "ctpilot-loadgen";
    if (sendto(fd, payload, sizeof payload, 0, reinterpret_cast<const sockaddr*>(&target.addr), target.len) < 0) {
      ++failed;
      ++errnos[errno];  // EPERM: the packet was dropped on output (e.g. the table was full)
    } else {
      ++sent;
    }
    close(fd);
  };

  const auto start = Clock::now();
  double sendWindow = 0;
  while (true) {
    bool done = false;
    loop.runOnce(
        [&] {
          const double elapsed = since(start);
          const auto due = std::min(limit, static_cast<std::int64_t>(rate * elapsed));
          while (attempted < due) sendOne();
          if (elapsed >= window.count() || attempted >= limit || loop.stopped()) {
            sendWindow = std::min(elapsed, window.count());
            done = true;
          }
        },
        [](int, std::uint32_t) {});
    if (done) break;
  }
  nlohmann::json errnoCounts = nlohmann::json::object();
  for (const auto& [err, count] : errnos)
    errnoCounts[strerrorname_np(err) ? strerrorname_np(err) : std::to_string(err)] = count;
  const nlohmann::json report{
      {"mode", "udp-flows"},
      {"netns", args.netns},
      {"rate_requested", rate},
      {"attempted", attempted},
      {"sent", sent},
      {"failed", failed},
      {"errors", errnoCounts},
      {"source_ports_in_use", portsInUse},
      {"elapsed_s", since(start)},
      {"send_window_s", sendWindow},
      {"rate_achieved", sendWindow > 0 ? attempted / sendWindow : 0.0},
  };
  std::cout << report.dump() << std::endl;
  return kExitOk;
}

int serve(const Args& args) {
  const auto listens = parseEndpoints("--listen", required(args, "--listen"));
  const Seconds window = parseDuration("--duration", optional(args, "--duration").value_or("600s"));
  enterNetns(args.netns);
  raiseFileLimit();
  Loop loop;
  std::vector<int> sockets;
  for (const auto& ep : listens) {
    const int fd = socket(ep.addr.ss_family, (args.udp ? SOCK_DGRAM : SOCK_STREAM) | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) fail(errnoText("socket"));
    const int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (bind(fd, reinterpret_cast<const sockaddr*>(&ep.addr), ep.len) != 0) fail(errnoText("bind " + ep.text));
    if (!args.udp && listen(fd, 4096) != 0) fail(errnoText("listen " + ep.text));
    loop.add(fd, EPOLLIN);
    sockets.push_back(fd);
  }
  // Tell a waiting test that the sockets are bound.
  std::cerr << "ctpilot-loadgen: serving " << listens.size() << (args.udp ? " udp" : " tcp") << " port(s)" << std::endl;
  std::int64_t accepted = 0, datagrams = 0;
  const auto start = Clock::now();
  while (since(start) < window.count() && !loop.stopped()) {
    loop.runOnce([] {},
                 [&](int fd, std::uint32_t) {
                   if (args.udp) {
                     char buf[2048];
                     while (recv(fd, buf, sizeof buf, 0) >= 0) ++datagrams;
                     return;
                   }
                   // Close at once: the server closes first, so the server side holds the
                   // socket TIME_WAIT and the conntrack entry ends ASSURED in TIME_WAIT.
                   while (true) {
                     const int conn = accept4(fd, nullptr, nullptr, SOCK_CLOEXEC);
                     if (conn < 0) break;
                     ++accepted;
                     close(conn);
                   }
                 });
  }
  const nlohmann::json report{
      {"mode", "serve"},      {"netns", args.netns},    {"protocol", args.udp ? "udp" : "tcp"},
      {"accepted", accepted}, {"datagrams", datagrams}, {"elapsed_s", since(start)},
  };
  std::cout << report.dump() << std::endl;
  return kExitOk;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    const Args args = parseArgs(argc, argv);
    if (args.mode == "tcp-churn") return tcpChurn(args);
    if (args.mode == "udp-flows") return udpFlows(args);
    return serve(args);
  } catch (const UsageError& e) {
    std::cerr << "ctpilot-loadgen: " << e.what() << "; see ctpilot-loadgen --help\n";
    return kExitUsage;
  }
}
