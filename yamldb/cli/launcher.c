/*
 * yamldb plugin launcher: the first bytes of the self-contained plugin file.
 *
 * `yamldb plugin build` appends to this program a payload (a PyInstaller
 * one-folder application: its bootloader, an interpreter, the standard library
 * and every native extension) and a trailer. On the first start of a build the
 * launcher unpacks the payload into a private per-build cache directory; every
 * start then exec()s the bootloader there, so the process the server started
 * becomes the plugin itself (same pid, signals and exit status go to it).
 *
 * Why not PyInstaller's one-file mode: it unpacks everything into a new
 * temporary directory on every start (about 0.5 s here) and runs the
 * application in a forked child, which a SIGKILL of the parent leaves behind.
 *
 * The cache directory is chosen exactly like the zipapp's bootstrap
 * (yamldb/cli/build_zipapp.py): $YAMLDB_PLUGIN_CACHE, $XDG_CACHE_HOME/yamldb-plugin,
 * $HOME/.cache/yamldb-plugin, used only when owned by this user and not writable
 * by others, else $TMPDIR/yamldb-plugin-UID, which must be private.
 *
 * Built statically (cc -static ... -lz) so that it needs nothing on the host.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <ftw.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>
#include <zlib.h>

#define MAGIC "YAMLDB-PAYLOAD-1" /* 16 bytes, no terminator in the file */
#define TRAILER_SIZE 64          /* magic 16 | offset u64 | length u64 | build id 32 */
#define HEADER_SIZE 32           /* kind u8, pad 3 | mode u32 | path length u32 | pad 4 | stored u64 | raw u64 */
#define EXECUTABLE "yamldb-database-plugin"
#define KEEP_SECONDS (14 * 86400) /* unused builds are removed after two weeks, as by the zipapp */
#define STALE_UNPACK_SECONDS 86400
#define CHUNK (256 * 1024)
#define ROOT_MAX (PATH_MAX - 128) /* room for "/<build id>/yamldb-database-plugin" and ".unpack-XXXXXX" */

static void remove_tree(const char *path);
static char unpacking[PATH_MAX]; /* the half-unpacked directory, removed if we stop early */

static void die(const char *fmt, ...)
{
    va_list ap;
    if (unpacking[0])
        remove_tree(unpacking);
    fputs("yamldb-database-plugin: ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    exit(1);
}

/* One hclog JSON line on stderr, as the plugin logs: the server shows it in its own log. */
static void warn_json(const char *message)
{
    struct timeval tv;
    struct tm tm;
    char stamp[64];
    gettimeofday(&tv, NULL);
    gmtime_r(&tv.tv_sec, &tm);
    strftime(stamp, sizeof stamp, "%Y-%m-%dT%H:%M:%S", &tm);
    fprintf(stderr, "{\"@level\": \"warn\", \"@module\": \"yamldb.launcher\", \"@timestamp\": \"%s.%06ld+00:00\", "
            "\"@message\": \"", stamp, (long)tv.tv_usec);
    for (const char *p = message; *p; p++) {
        if (*p == '"' || *p == '\\')
            fputc('\\', stderr);
        if ((unsigned char)*p >= 0x20)
            fputc(*p, stderr);
    }
    fputs("\"}\n", stderr);
}

/* a + "/" + b into out; 0 when it does not fit (never a silently shortened path). */
static int join(char *out, size_t size, const char *a, const char *b)
{
    int n = snprintf(out, size, "%s/%s", a, b);
    return n >= 0 && (size_t)n < size;
}

static uint64_t le64(const unsigned char *p)
{
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--)
        v = (v << 8) | p[i];
    return v;
}

static uint32_t le32(const unsigned char *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

/* pread/pwrite all of len bytes at `at`, retrying short transfers; 0 or -1. */
static int transfer(int fd, void *buf, size_t len, off_t at, int writing)
{
    size_t done = 0;
    while (done < len) {
        ssize_t n = writing ? pwrite(fd, (char *)buf + done, len - done, at + (off_t)done)
                            : pread(fd, (char *)buf + done, len - done, at + (off_t)done);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return -1;
        done += (size_t)n;
    }
    return 0;
}

static int read_exact(int fd, void *buf, size_t len, off_t at)
{
    return transfer(fd, buf, len, at, 0);
}

/* mkdir -p with mode for the missing components. */
static int make_dirs(const char *path, mode_t mode)
{
    char buf[PATH_MAX];
    if (snprintf(buf, sizeof buf, "%s", path) >= (int)sizeof buf)
        return -1;
    for (char *p = buf + 1; *p; p++) {
        if (*p == '/') {
            *p = 0;
            if (mkdir(buf, mode) < 0 && errno != EEXIST)
                return -1;
            *p = '/';
        }
    }
    if (mkdir(buf, mode) < 0 && errno != EEXIST)
        return -1;
    return 0;
}

/* 1 if dir exists (created 0700 if missing), belongs to us and has none of the bits in `forbidden`. */
static int private_dir(const char *dir, mode_t forbidden)
{
    struct stat st;
    if (make_dirs(dir, 0700) < 0 || stat(dir, &st) < 0) /* follows a symlink, as the zipapp does */
        return 0;
    return S_ISDIR(st.st_mode) && st.st_uid == geteuid() && !(st.st_mode & forbidden);
}

static void cache_root(char *out, size_t size) /* size >= ROOT_MAX */
{
    const char *env = getenv("YAMLDB_PLUGIN_CACHE");
    const char *xdg = getenv("XDG_CACHE_HOME");
    const char *home = getenv("HOME");
    char wanted[PATH_MAX] = "";
    int fits = 1;
    if (env && *env)
        fits = snprintf(wanted, ROOT_MAX, "%s", env) < ROOT_MAX;
    else if (xdg && *xdg)
        fits = join(wanted, ROOT_MAX, xdg, "yamldb-plugin");
    else if (home && *home)
        fits = join(wanted, ROOT_MAX, home, ".cache/yamldb-plugin");
    if (!fits)
        wanted[0] = 0;
    if (*wanted && private_dir(wanted, 022)) {
        snprintf(out, size, "%s", wanted);
        return;
    }
    /* Fall back to a per-user directory in the temp dir; refuse one others could have planted. */
    const char *tmp = getenv("TMPDIR");
    if (snprintf(out, ROOT_MAX, "%s/yamldb-plugin-%u", tmp && *tmp ? tmp : "/tmp", (unsigned)geteuid()) >= ROOT_MAX)
        die("TMPDIR is too long");
    if (*wanted) {
        char message[2 * PATH_MAX + 80];
        snprintf(message, sizeof message, "plugin cache %s is unusable (owner or mode); using %s", wanted, out);
        warn_json(message);
    }
    if (!private_dir(out, 077))
        die("unsafe cache directory %s (owner/permissions)", out);
}

static int remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)ftw;
    if (flag == FTW_DP)
        rmdir(path);
    else
        unlink(path);
    return 0;
}

static void remove_tree(const char *path)
{
    nftw(path, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
}

/* Builds not started for two weeks and unpacks abandoned for a day are removed. */
static void prune(const char *root, const char *build_id)
{
    DIR *dir = opendir(root);
    struct dirent *entry;
    time_t now = time(NULL);
    if (!dir)
        return;
    while ((entry = readdir(dir)) != NULL) {
        char path[PATH_MAX], marker[PATH_MAX];
        struct stat st;
        if (!strcmp(entry->d_name, ".") || !strcmp(entry->d_name, "..") || !strcmp(entry->d_name, build_id))
            continue;
        if (!join(path, sizeof path, root, entry->d_name) || !join(marker, sizeof marker, path, ".complete"))
            continue;
        if (!strncmp(entry->d_name, ".unpack-", 8)) {
            if (lstat(path, &st) == 0 && S_ISDIR(st.st_mode) && now - st.st_mtime > STALE_UNPACK_SECONDS)
                remove_tree(path);
            continue;
        }
        if (stat(marker, &st) == 0 && now - st.st_mtime > KEEP_SECONDS)
            remove_tree(path);
    }
    closedir(dir);
}

/* A payload path: relative, no empty, "." or ".." component (the file's sha256 covers it; defence in depth). */
static int safe_relative(const char *path)
{
    const char *p = path;
    if (!*p || *p == '/')
        return 0;
    while (*p) {
        const char *end = strchr(p, '/');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        if (len == 0 || (len == 1 && p[0] == '.') || (len == 2 && p[0] == '.' && p[1] == '.'))
            return 0;
        p += len;
        if (*p == '/')
            p++;
    }
    return 1;
}

static void inflate_to(int in, off_t at, uint64_t stored, uint64_t raw, int out, const char *name)
{
    static unsigned char inbuf[CHUNK], outbuf[CHUNK];
    z_stream zs;
    uint64_t consumed = 0, produced = 0;
    int rc = Z_OK;
    memset(&zs, 0, sizeof zs);
    if (inflateInit(&zs) != Z_OK)
        die("cannot start zlib");
    while (rc != Z_STREAM_END) {
        if (zs.avail_in == 0) {
            size_t want = stored - consumed > CHUNK ? CHUNK : (size_t)(stored - consumed);
            if (want == 0 || read_exact(in, inbuf, want, at + (off_t)consumed) < 0)
                die("the payload of %s is truncated: the plugin file is damaged; copy it again", name);
            consumed += want;
            zs.next_in = inbuf;
            zs.avail_in = (uInt)want;
        }
        zs.next_out = outbuf;
        zs.avail_out = CHUNK;
        rc = inflate(&zs, Z_NO_FLUSH);
        if (rc != Z_OK && rc != Z_STREAM_END)
            die("the payload of %s does not decompress: the plugin file is damaged; copy it again", name);
        size_t have = CHUNK - zs.avail_out;
        if (produced + have > raw || transfer(out, outbuf, have, (off_t)produced, 1) < 0)
            die("cannot unpack %s: %s", name, produced + have > raw ? "size mismatch" : strerror(errno));
        produced += have;
    }
    inflateEnd(&zs);
    if (produced != raw || consumed != stored)
        die("the payload of %s has the wrong size: the plugin file is damaged; copy it again", name);
}

static void unpack(int fd, uint64_t offset, uint64_t length, const char *dest)
{
    int destfd = open(dest, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    uint64_t pos = 0;
    if (destfd < 0)
        die("cannot open %s: %s", dest, strerror(errno));
    while (pos < length) {
        unsigned char header[HEADER_SIZE];
        char name[PATH_MAX];
        if (length - pos < HEADER_SIZE || read_exact(fd, header, HEADER_SIZE, (off_t)(offset + pos)) < 0)
            die("the payload is truncated: the plugin file is damaged; copy it again");
        unsigned kind = header[0];
        mode_t mode = le32(header + 4) & 0777;
        uint32_t name_len = le32(header + 8);
        uint64_t stored = le64(header + 16), raw = le64(header + 24);
        pos += HEADER_SIZE;
        if (name_len == 0 || name_len >= sizeof name || stored > length - pos - name_len ||
            read_exact(fd, name, name_len, (off_t)(offset + pos)) < 0)
            die("the payload is malformed: the plugin file is damaged; copy it again");
        name[name_len] = 0;
        pos += name_len;
        if (strlen(name) != name_len || !safe_relative(name))
            die("the payload holds an unsafe path; refusing to unpack it");
        if (kind == 'd') {
            if (mkdirat(destfd, name, mode | 0700) < 0)
                die("cannot create %s/%s: %s", dest, name, strerror(errno));
        } else if (kind == 'f') {
            int out = openat(destfd, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode | 0600);
            if (out < 0)
                die("cannot create %s/%s: %s", dest, name, strerror(errno));
            inflate_to(fd, (off_t)(offset + pos), stored, raw, out, name);
            if (close(out) < 0)
                die("cannot write %s/%s: %s", dest, name, strerror(errno));
        } else if (kind == 'l') {
            char target[PATH_MAX];
            if (stored >= sizeof target || read_exact(fd, target, (size_t)stored, (off_t)(offset + pos)) < 0)
                die("the payload is malformed: the plugin file is damaged; copy it again");
            target[stored] = 0;
            if (!safe_relative(target))
                die("the payload holds an unsafe link; refusing to unpack it");
            if (symlinkat(target, destfd, name) < 0)
                die("cannot create %s/%s: %s", dest, name, strerror(errno));
        } else {
            die("the payload is malformed (entry kind %u): the plugin file is damaged; copy it again", kind);
        }
        pos += stored;
    }
    int marker = openat(destfd, ".complete", O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (marker < 0 || close(marker) < 0)
        die("cannot write %s/.complete: %s", dest, strerror(errno));
    close(destfd);
}

static void self_path(char *out, size_t size, const char *argv0)
{
    ssize_t n = readlink("/proc/self/exe", out, size - 1);
    if (n > 0) {
        out[n] = 0;
        return;
    }
    /* No /proc: the server starts plugins by absolute path. */
    if (!argv0 || !strchr(argv0, '/') || !realpath(argv0, out))
        die("cannot find my own file (no /proc/self/exe and argv[0] is not a path)");
}

int main(int argc, char **argv)
{
    char self[PATH_MAX], root[PATH_MAX], target[PATH_MAX], marker[PATH_MAX], program[PATH_MAX];
    unsigned char trailer[TRAILER_SIZE];
    char build_id[33];
    struct stat st;
    (void)argc;

    self_path(self, sizeof self, argv[0]);
    int fd = open(self, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        die("cannot read my own file %s: %s (the plugin file must be readable by the server's user)", self,
            strerror(errno));
    if (fstat(fd, &st) < 0 || st.st_size < TRAILER_SIZE ||
        read_exact(fd, trailer, TRAILER_SIZE, st.st_size - TRAILER_SIZE) < 0 || memcmp(trailer, MAGIC, 16) != 0)
        die("%s carries no payload: it is a bare launcher or a damaged plugin file", self);
    uint64_t offset = le64(trailer + 16), length = le64(trailer + 24);
    memcpy(build_id, trailer + 32, 32);
    build_id[32] = 0;
    if (offset > (uint64_t)st.st_size || length > (uint64_t)st.st_size - TRAILER_SIZE - offset ||
        !build_id[0] || strchr(build_id, '/') || build_id[0] == '.')
        die("%s has a malformed trailer: the plugin file is damaged; copy it again", self);

    cache_root(root, sizeof root);
    if (!join(target, sizeof target, root, build_id) || !join(marker, sizeof marker, target, ".complete") ||
        !join(program, sizeof program, target, EXECUTABLE))
        die("the cache directory path %s is too long", root);

    if (stat(marker, &st) == 0) {
        utimensat(AT_FDCWD, marker, NULL, 0); /* "last started", for pruning */
    } else {
        char tmp[PATH_MAX];
        prune(root, build_id);
        if (!join(tmp, sizeof tmp, root, ".unpack-XXXXXX") || !mkdtemp(tmp))
            die("cannot create a directory in %s: %s", root, strerror(errno));
        snprintf(unpacking, sizeof unpacking, "%s", tmp);
        unpack(fd, offset, length, tmp);
        if (rename(tmp, target) < 0) {
            /* Another process unpacked the same build first: use its copy. */
            int error = errno;
            remove_tree(tmp);
            unpacking[0] = 0;
            if (stat(marker, &st) < 0)
                die("cannot move the unpacked plugin to %s: %s", target, strerror(error));
        }
        unpacking[0] = 0;
    }
    close(fd);
    argv[0] = program; /* the bootloader finds its folder from /proc/self/exe, or argv[0] without /proc */
    execv(program, argv);
    if (errno == ENOENT) /* the file is there: its ELF interpreter (glibc's ld-linux) is not */
        die("cannot run %s: %s: this host has no glibc, which this file was built for (Alpine? distroless?); "
            "build the plugin on the target's platform (docs/packaging.md)", program, strerror(errno));
    if (errno == EACCES || errno == EPERM)
        die("cannot run %s: %s (on a noexec filesystem? point YAMLDB_PLUGIN_CACHE to a directory where programs "
            "may run)", program, strerror(errno));
    die("cannot run %s: %s", program, strerror(errno));
    return 1;
}
