// SPDX-License-Identifier: Apache-2.0
#include "controller/state_dir.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <filesystem>
#include <limits>
#include <string>

#include "controller/written_file.h"
#include "policy/read_file.h"
#include "policy/unique_fd.h"

namespace ctpilot::controller {
namespace {

std::string joined(const std::string& dir, const std::string& name) {
  return (dir.empty() || dir.back() == '/' ? dir : dir + "/") + name;
}

std::string octal(mode_t mode) {
  char text[8];
  (void)std::snprintf(text, sizeof(text), "%04o", static_cast<unsigned>(mode & 07777));
  return text;
}

Error withHint(int err, const std::string& what) {
  const Error base = errnoError(err, what);
  const char* hint = base.code == Errc::Refused ? "; run as root or pass --state-dir" : "; pass --state-dir";
  return Error{base.code, base.what + hint};
}

// Owned by us or by root (root can do anything anyway), writable by nobody else.
Result<void> checkSafe(const struct stat& st, const std::string& path, bool directory) {
  const std::string kind = directory ? "state directory " : "";
  if (directory ? !S_ISDIR(st.st_mode) : !S_ISREG(st.st_mode)) {
    return Error{Errc::Refused, kind + path + " is not a " + (directory ? "directory" : "regular file") +
                                    "; remove it or pass --state-dir"};
  }
  const uid_t me = ::geteuid();
  if (st.st_uid != me && st.st_uid != 0) {
    return Error{Errc::Refused, kind + path + " is owned by uid " + std::to_string(st.st_uid) +
                                    ", not by the user running ctpilot (uid " + std::to_string(me) +
                                    ") or root; run chown " + std::to_string(me) + " " + path};
  }
  if ((st.st_mode & (S_IWGRP | S_IWOTH)) != 0) {
    return Error{Errc::Refused, kind + path + " is writable by group or others (mode " + octal(st.st_mode) +
                                    "); run chmod " + (directory ? "0750 " : "0640 ") + path};
  }
  return {};
}

Error linkError(const std::string& path, bool directory) {
  return Error{Errc::Refused, std::string(directory ? "state directory " : "") + path +
                                  " is a symbolic link, which ctpilot does not follow in its state directory; " +
                                  (directory ? "pass the real directory with --state-dir" : "remove it")};
}

// Creates `dir` and its missing parents with mode 0750 (the journal says what the host runs).
Result<void> makeDirs(const std::string& dir) {
  std::filesystem::path partial;
  for (const auto& part : std::filesystem::path(dir)) {
    partial /= part;
    if (part.empty() || part == "/") continue;
    if (::mkdir(partial.c_str(), 0750) != 0 && errno != EEXIST) {
      return withHint(errno, "cannot create state directory " + dir);
    }
  }
  return {};
}

// Opens the directory itself, not a link to it, and checks it. Errc::Missing when absent.
Result<UniqueFd> openDir(const std::string& dir, bool create) {
  if (create) {
    if (auto made = makeDirs(dir); !made) return made.error();
  }
  UniqueFd fd(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
  if (!fd) {
    const int err = errno;
    struct stat st {};
    if (err == ELOOP || (err == ENOTDIR && ::lstat(dir.c_str(), &st) == 0 && S_ISLNK(st.st_mode))) {
      return linkError(dir, true);
    }
    if (err == ENOTDIR) {
      return Error{Errc::Refused, "state directory " + dir + " is not a directory; pass --state-dir DIR"};
    }
    return withHint(err, "cannot open state directory " + dir);
  }
  struct stat st {};
  if (::fstat(fd.get(), &st) != 0) return withHint(errno, "stat state directory " + dir);
  if (auto safe = checkSafe(st, dir, true); !safe) return safe.error();
  return fd;
}

// openat with O_NOFOLLOW; a new file is created 0640 (O_EXCL, so `created` is exact).
UniqueFd openIn(int dirFd, const std::string& name, int flags, bool create, bool& created) {
  const int base = flags | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK;
  for (int attempt = 0; attempt < 3; ++attempt) {
    UniqueFd fd(::openat(dirFd, name.c_str(), base));
    if (fd || errno != ENOENT || !create) return fd;
    fd.reset(::openat(dirFd, name.c_str(), base | O_CREAT | O_EXCL, 0640));
    if (fd) {
      created = true;
      return fd;
    }
    if (errno != EEXIST) return fd;  // EEXIST: someone created it meanwhile; open theirs
  }
  return UniqueFd();
}

Result<StateFile> openChecked(int dirFd, const std::string& dir, const std::string& name, StateAccess access) {
  const std::string path = joined(dir, name);
  const bool create = access != StateAccess::Read;
  int flags = access == StateAccess::Read ? O_RDONLY : O_RDWR;
  if (access == StateAccess::AppendOrRead) flags |= O_APPEND;
  StateFile file;
  file.fd = openIn(dirFd, name, flags, create, file.created);
  file.writable = create;
  if (!file.fd && access == StateAccess::AppendOrRead && errno == EACCES) {
    // Reading history needs no write access; append() says so if it is ever tried.
    file.fd = openIn(dirFd, name, O_RDONLY, false, file.created);
    file.writable = false;
  }
  if (!file.fd) {
    if (errno == ELOOP) return linkError(path, false);
    if (errno == EISDIR) return Error{Errc::Refused, path + " is not a regular file; remove it or pass --state-dir"};
    if (errno == ENOENT && !create) return Error{Errc::Missing, path + ": No such file or directory"};
    return withHint(errno, "cannot open " + path);
  }
  struct stat st {};
  Result<void> safe = ::fstat(file.fd.get(), &st) == 0 ? checkSafe(st, path, false) : withHint(errno, "stat " + path);
  if (!safe) return safe.error();
  // Opened non-blocking only so a FIFO put here could not hang us; regular files ignore it.
  ::fcntl(file.fd.get(), F_SETFL, ::fcntl(file.fd.get(), F_GETFL) & ~O_NONBLOCK);
  // Make a new directory entry durable too, or a crash could lose the whole file.
  if (file.created) ::fsync(dirFd);
  return file;
}

}  // namespace

Result<StateFile> openStateFile(const std::string& dir, const std::string& name, StateAccess access) {
  auto dirFd = openDir(dir, access != StateAccess::Read);
  if (!dirFd) {
    if (dirFd.error().code == Errc::Missing && access == StateAccess::Read) {
      return Error{Errc::Missing, joined(dir, name) + ": No such file or directory"};
    }
    return dirFd.error();
  }
  return openChecked(dirFd->get(), dir, name, access);
}

Result<bool> stateFileExists(const std::string& dir, const std::string& name) {
  auto file = openStateFile(dir, name, StateAccess::Read);
  if (file) return true;  // only its existence was asked: the descriptor closes here
  if (file.error().code == Errc::Missing) return false;
  return file.error();
}

Result<std::string> readStateFile(const std::string& dir, const std::string& name) {
  auto file = openStateFile(dir, name, StateAccess::Read);
  if (!file) return file.error();
  // No size bound: the directory is ctpilot's alone (README Safety promise 12), and a rotated
  // journal is as long as the history it keeps.
  return readAll(file->fd.get(), std::numeric_limits<std::size_t>::max(), joined(dir, name));
}

Result<void> replaceStateFile(const std::string& dir, const std::string& name, const std::string& data, mode_t mode) {
  auto dirFd = openDir(dir, /*create=*/false);
  if (!dirFd) return dirFd.error();
  const Replacement target{dirFd->get(), dir, name, name + ".tmp", mode, Durability::Synced};
  // A leftover temporary file (a crash before the rename) is ours to remove, whatever it is.
  if (::unlinkat(dirFd->get(), target.tmpName.c_str(), 0) != 0 && errno != ENOENT) {
    return withHint(errno, "remove " + joined(dir, target.tmpName));
  }
  auto replaced = replaceFile(target, data);
  if (!replaced && replaced.error().code == Errc::Refused) {
    return Error{Errc::Refused, replaced.error().what + "; run as root or pass --state-dir"};
  }
  return replaced;
}

Result<void> removeStateFile(const std::string& dir, const std::string& name) {
  auto dirFd = openDir(dir, /*create=*/false);
  if (!dirFd) return dirFd.error();
  if (::unlinkat(dirFd->get(), name.c_str(), 0) != 0 && errno != ENOENT)
    return withHint(errno, "remove " + joined(dir, name));
  return {};
}

}  // namespace ctpilot::controller
