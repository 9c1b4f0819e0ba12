// An LD_PRELOAD shim that records every change a process makes to the files of one folder, in order, so that a
// test can rebuild the folder as a power cut at any point would leave it (test/support/power-cut/replay.ts).
// Like dm-log-writes, without the device-mapper this kernel lacks: each write (with its bytes), truncate, fsync
// and unlink to a file under POWER_CUT_DIR is appended to the binary log POWER_CUT_LOG, under one lock, after the
// real call succeeded. Writes to a file whose name ends in ".ack" are not file changes but the process's own
// acknowledgements ("this is committed"), logged at their place among the file changes.
//
// Record: u8 kind, u32 file, u64 offset, u32 length, then `length` bytes (a path for OPEN, the data for WRITE
// and ACK). Kinds: 'O' a file's number is first given to this path, 'W' write, 'T' truncate to offset,
// 'S' fsync or fdatasync done, 'U' unlink, 'A' acknowledgement.
#define _GNU_SOURCE
#include <dlfcn.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <unistd.h>

#define MAX_FD 65536
#define MAX_FILES 256

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static int log_fd = -1;
static char dir[4096];
static size_t dir_length;
/* The file number of each open descriptor under the folder, plus one (0 = not watched). */
static int watched[MAX_FD];
static char *paths[MAX_FILES];
static int file_count;

static ssize_t (*real_write)(int, const void *, size_t);
static ssize_t (*real_pwrite64)(int, const void *, size_t, off64_t);
static ssize_t (*real_pwrite)(int, const void *, size_t, off_t);
static int (*real_open64)(const char *, int, ...);
static int (*real_open)(const char *, int, ...);
static int (*real_openat)(int, const char *, int, ...);
static int (*real_close)(int);
static int (*real_fsync)(int);
static int (*real_fdatasync)(int);
static int (*real_ftruncate64)(int, off64_t);
static int (*real_ftruncate)(int, off_t);
static int (*real_unlink)(const char *);

__attribute__((constructor)) static void start(void) {
  real_write = dlsym(RTLD_NEXT, "write");
  real_pwrite64 = dlsym(RTLD_NEXT, "pwrite64");
  real_pwrite = dlsym(RTLD_NEXT, "pwrite");
  real_open64 = dlsym(RTLD_NEXT, "open64");
  real_open = dlsym(RTLD_NEXT, "open");
  real_openat = dlsym(RTLD_NEXT, "openat");
  real_close = dlsym(RTLD_NEXT, "close");
  real_fsync = dlsym(RTLD_NEXT, "fsync");
  real_fdatasync = dlsym(RTLD_NEXT, "fdatasync");
  real_ftruncate64 = dlsym(RTLD_NEXT, "ftruncate64");
  real_ftruncate = dlsym(RTLD_NEXT, "ftruncate");
  real_unlink = dlsym(RTLD_NEXT, "unlink");
  const char *folder = getenv("POWER_CUT_DIR");
  const char *log = getenv("POWER_CUT_LOG");
  if (!folder || !log) return;
  snprintf(dir, sizeof dir, "%s/", folder);
  dir_length = strlen(dir);
  log_fd = real_open64(log, O_WRONLY | O_CREAT | O_TRUNC | O_APPEND | O_CLOEXEC, 0644);
}

static void record(char kind, int file, uint64_t offset, const void *data, uint32_t length) {
  unsigned char header[17];
  uint32_t number = (uint32_t)file;
  header[0] = (unsigned char)kind;
  memcpy(header + 1, &number, 4);
  memcpy(header + 5, &offset, 8);
  memcpy(header + 13, &length, 4);
  struct iovec parts[2] = {{header, sizeof header}, {(void *)data, length}};
  /* One writev keeps a record whole; the log is the shim's own file, never watched. */
  if (writev(log_fd, parts, 2) < 0) abort();
}

static int is_ack(int file) {
  size_t n = strlen(paths[file]);
  return n > 4 && strcmp(paths[file] + n - 4, ".ack") == 0;
}

static void opened(const char *path, int fd) {
  if (log_fd < 0 || fd < 0 || fd >= MAX_FD || path[0] != '/' || strncmp(path, dir, dir_length) != 0) return;
  pthread_mutex_lock(&lock);
  int file = 0;
  while (file < file_count && strcmp(paths[file], path) != 0) file++;
  if (file == file_count && file_count < MAX_FILES) {
    paths[file_count++] = strdup(path);
    record('O', file, 0, path, (uint32_t)strlen(path));
  }
  if (file < file_count) watched[fd] = file + 1;
  pthread_mutex_unlock(&lock);
}

static int watched_file(int fd) { return fd >= 0 && fd < MAX_FD ? watched[fd] - 1 : -1; }

static mode_t mode_of(int flags, va_list args) { return (flags & (O_CREAT | O_TMPFILE)) ? (mode_t)va_arg(args, int) : 0; }

int open64(const char *path, int flags, ...) {
  va_list args;
  va_start(args, flags);
  mode_t mode = mode_of(flags, args);
  va_end(args);
  int fd = real_open64(path, flags, mode);
  opened(path, fd);
  return fd;
}

int open(const char *path, int flags, ...) {
  va_list args;
  va_start(args, flags);
  mode_t mode = mode_of(flags, args);
  va_end(args);
  int fd = real_open(path, flags, mode);
  opened(path, fd);
  return fd;
}

int openat(int at, const char *path, int flags, ...) {
  va_list args;
  va_start(args, flags);
  mode_t mode = mode_of(flags, args);
  va_end(args);
  int fd = real_openat(at, path, flags, mode);
  opened(path, fd);
  return fd;
}

int close(int fd) {
  if (fd >= 0 && fd < MAX_FD) watched[fd] = 0;
  return real_close(fd);
}

static ssize_t logged_write(int fd, const void *data, size_t length, off64_t offset, ssize_t (*write_it)(void)) {
  int file = watched_file(fd);
  if (file < 0) return write_it();
  pthread_mutex_lock(&lock);
  if (offset < 0) offset = lseek(fd, 0, SEEK_CUR);
  ssize_t done = write_it();
  if (done > 0) record(is_ack(file) ? 'A' : 'W', file, (uint64_t)offset, data, (uint32_t)done);
  pthread_mutex_unlock(&lock);
  (void)length;
  return done;
}

/* The real call for logged_write, with its arguments held here (C has no closures). */
static __thread int call_fd;
static __thread const void *call_data;
static __thread size_t call_length;
static __thread off64_t call_offset;
static ssize_t call_write(void) { return real_write(call_fd, call_data, call_length); }
static ssize_t call_pwrite64(void) { return real_pwrite64(call_fd, call_data, call_length, call_offset); }
static ssize_t call_pwrite(void) { return real_pwrite(call_fd, call_data, call_length, (off_t)call_offset); }

ssize_t write(int fd, const void *data, size_t length) {
  call_fd = fd, call_data = data, call_length = length;
  return logged_write(fd, data, length, -1, call_write);
}

ssize_t pwrite64(int fd, const void *data, size_t length, off64_t offset) {
  call_fd = fd, call_data = data, call_length = length, call_offset = offset;
  return logged_write(fd, data, length, offset, call_pwrite64);
}

ssize_t pwrite(int fd, const void *data, size_t length, off_t offset) {
  call_fd = fd, call_data = data, call_length = length, call_offset = offset;
  return logged_write(fd, data, length, offset, call_pwrite);
}

/* Held across the call, so that no write of another thread lands between the call and its record. */
#define LOGGED(kind, offset, call)                                   \
  do {                                                               \
    int file = watched_file(fd);                                     \
    if (file < 0) return call;                                       \
    pthread_mutex_lock(&lock);                                       \
    int result = call;                                               \
    if (result == 0) record(kind, file, (uint64_t)(offset), NULL, 0); \
    pthread_mutex_unlock(&lock);                                     \
    return result;                                                   \
  } while (0)

int fsync(int fd) { LOGGED('S', 0, real_fsync(fd)); }
int fdatasync(int fd) { LOGGED('S', 0, real_fdatasync(fd)); }
int ftruncate64(int fd, off64_t length) { LOGGED('T', length, real_ftruncate64(fd, length)); }
int ftruncate(int fd, off_t length) { LOGGED('T', length, real_ftruncate(fd, length)); }

int unlink(const char *path) {
  int result = real_unlink(path);
  if (result == 0 && log_fd >= 0) {
    pthread_mutex_lock(&lock);
    for (int file = 0; file < file_count; file++)
      if (strcmp(paths[file], path) == 0) record('U', file, 0, NULL, 0);
    pthread_mutex_unlock(&lock);
  }
  return result;
}
