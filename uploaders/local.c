/*
 * local.c - a repository in a local directory (the embedded default).
 *
 * Objects are files under the root, named by their repository key. Every
 * object is written to "<root>/tmp/<random>" first, fsynced, and renamed into
 * place, then the parent directory is fsynced: a crash at any point leaves
 * either no object or the whole object, never a torn one (leftovers in tmp/
 * are garbage that prune removes). Objects written with
 * UPL_PUT_NO_OVERWRITE use renameat2(RENAME_NOREPLACE), so two writers can
 * never replace each other's manifest.
 *
 * All operations complete synchronously: put_part() returns SV_Q_DONE and
 * reap() never has anything to hand back.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include "uploaders/uploader.h"

struct local_priv {
	char root[PATH_MAX];
	int fsync;
};

struct local_write {
	int fd;
	char tmp[PATH_MAX];
};

static struct local_priv *lp(struct uploader *u)
{
	return u->priv;
}

static int path_of(struct uploader *u, const char *name, char *out)
{
	int n;

	/* Keys come from the engine, never from the repository, but refuse
	 * anything that could leave the root all the same. */
	if (name[0] == '/' || strstr(name, "..")) {
		uploader_seterr(u, "%s: invalid object name", name);
		return -EINVAL;
	}
	n = snprintf(out, PATH_MAX, "%s/%s", lp(u)->root, name);
	if (n < 0 || n >= PATH_MAX)
		return -ENAMETOOLONG;
	return 0;
}

/* mkdir -p of the directory part of path (below the root). */
static int make_parents(char *path)
{
	char *slash = strrchr(path, '/');
	int ret = 0;

	if (!slash)
		return 0;
	*slash = '\0';
	if (mkdir(path, 0700) && errno != EEXIST) {
		if (errno == ENOENT) {
			ret = make_parents(path);
			if (!ret && mkdir(path, 0700) && errno != EEXIST)
				ret = -errno;
		} else {
			ret = -errno;
		}
	}
	*slash = '/';
	return ret;
}

static int fsync_parent(const char *path)
{
	char dir[PATH_MAX];
	char *slash;
	int fd, ret = 0;

	snprintf(dir, sizeof(dir), "%s", path);
	slash = strrchr(dir, '/');
	if (!slash)
		return 0;
	*slash = '\0';
	fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (fsync(fd))
		ret = -errno;
	close(fd);
	return ret;
}

static int local_init(struct uploader *u, const char *location,
		      const struct upl_opts *o)
{
	struct local_priv *p = lp(u);
	size_t n;

	if (strncmp(location, "file://", 7) == 0)
		location += 7;
	n = strlen(location);
	if (n == 0 || n >= sizeof(p->root) - 80) {
		uploader_seterr(u, "invalid repository path '%s'", location);
		return -EINVAL;
	}
	memcpy(p->root, location, n + 1);
	while (n > 1 && p->root[n - 1] == '/')
		p->root[--n] = '\0';
	p->fsync = o->fsync >= 0;
	return 0;
}

/* Open a fresh temporary file under <root>/tmp. */
static int tmp_open(struct uploader *u, char *tmp)
{
	uint8_t rnd[12];
	char hex[25];
	int fd, ret;

	if (getrandom(rnd, sizeof(rnd), 0) != (ssize_t)sizeof(rnd))
		return -EIO;
	sv_hex(hex, rnd, sizeof(rnd));
	snprintf(tmp, PATH_MAX, "%s/tmp/%s", lp(u)->root, hex);
	ret = make_parents(tmp);
	if (ret) {
		uploader_seterr(u, "cannot create %s/tmp: %s", lp(u)->root,
				strerror(-ret));
		return ret;
	}
	fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd < 0) {
		ret = -errno;
		uploader_seterr(u, "cannot create %s: %s", tmp, strerror(errno));
		return ret;
	}
	return fd;
}

/* fsync the temporary, rename it to name, fsync the directory. */
static int tmp_commit(struct uploader *u, int fd, const char *tmp,
		      const char *name, unsigned flags)
{
	char path[PATH_MAX];
	int ret;

	ret = path_of(u, name, path);
	if (ret)
		return ret;
	if (lp(u)->fsync && fsync(fd)) {
		ret = -errno;
		uploader_seterr(u, "cannot write %s: %s", name, strerror(errno));
		return ret;
	}
	ret = make_parents(path);
	if (ret) {
		uploader_seterr(u, "cannot create directory for %s: %s", name,
				strerror(-ret));
		return ret;
	}
	if (flags & UPL_PUT_NO_OVERWRITE)
		ret = renameat2(AT_FDCWD, tmp, AT_FDCWD, path, RENAME_NOREPLACE);
	else
		ret = rename(tmp, path);
	if (ret) {
		ret = -errno;
		uploader_seterr(u, "cannot store %s: %s", name, strerror(errno));
		return ret;
	}
	if (lp(u)->fsync)
		return fsync_parent(path);
	return 0;
}

static int write_all(int fd, const void *data, size_t len, off_t off)
{
	const uint8_t *p = data;

	while (len) {
		ssize_t n = pwrite(fd, p, len, off);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		p += n;
		len -= (size_t)n;
		off += n;
	}
	return 0;
}

static int local_put(struct uploader *u, const char *name, const void *data,
		     size_t len, unsigned flags)
{
	char tmp[PATH_MAX];
	int fd, ret;

	fd = tmp_open(u, tmp);
	if (fd < 0)
		return fd;
	ret = write_all(fd, data, len, 0);
	if (ret)
		uploader_seterr(u, "cannot write %s: %s", name, strerror(-ret));
	else
		ret = tmp_commit(u, fd, tmp, name, flags);
	close(fd);
	if (ret)
		unlink(tmp);
	else
		u->stats.objects_put++, u->stats.bytes_up += len;
	return ret;
}

static int local_open(struct uploader *u, struct upl_write *w)
{
	struct local_write *lw = calloc(1, sizeof(*lw));

	if (!lw)
		return -ENOMEM;
	lw->fd = tmp_open(u, lw->tmp);
	if (lw->fd < 0) {
		int ret = lw->fd;

		free(lw);
		return ret;
	}
	w->priv = lw;
	w->next_part = 1;
	w->size = 0;
	w->err = 0;
	return 0;
}

static int local_put_part(struct uploader *u, struct upl_write *w,
			  const void *data, size_t len, void *cookie)
{
	struct local_write *lw = w->priv;
	int ret;

	(void)cookie;
	if (w->err)
		return w->err;
	ret = write_all(lw->fd, data, len, (off_t)w->size);
	if (ret) {
		uploader_seterr(u, "cannot write %s: %s", w->name, strerror(-ret));
		w->err = ret;
		return ret;
	}
	/* Start writeback of this part now, so that complete()'s fsync
	 * finds little left to do and the disk works while we pack on. */
	if (lp(u)->fsync)
		(void)sync_file_range(lw->fd, (off_t)w->size, (off_t)len,
				      SYNC_FILE_RANGE_WRITE);
	w->size += len;
	w->next_part++;
	u->stats.parts_put++;
	u->stats.bytes_up += len;
	return SV_Q_DONE;
}

static int local_complete(struct uploader *u, struct upl_write *w)
{
	struct local_write *lw = w->priv;
	int ret;

	if (w->err)
		return w->err;
	ret = tmp_commit(u, lw->fd, lw->tmp, w->name, w->flags);
	if (ret) {
		w->err = ret;
		return ret;
	}
	close(lw->fd);
	free(lw);
	w->priv = NULL;
	u->stats.objects_put++;
	return 0;
}

static int local_abort(struct uploader *u, struct upl_write *w)
{
	struct local_write *lw = w->priv;

	(void)u;
	if (!lw)
		return 0;
	close(lw->fd);
	unlink(lw->tmp);
	free(lw);
	w->priv = NULL;
	return 0;
}

static int local_reap(struct uploader *u, struct upl_event *ev, int max,
		      int timeout_ms)
{
	(void)u, (void)ev, (void)max, (void)timeout_ms;
	return 0;
}

static ssize_t local_get(struct uploader *u, const char *name, uint64_t off,
			 uint64_t len, void *buf, size_t cap)
{
	char path[PATH_MAX];
	struct stat st;
	size_t want, got = 0;
	ssize_t ret;
	int fd;

	ret = path_of(u, name, path);
	if (ret)
		return ret;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		ret = -errno;
		uploader_seterr(u, "cannot open %s: %s", name, strerror(errno));
		return ret;
	}
	if (fstat(fd, &st)) {
		ret = -errno;
		goto out;
	}
	if (off > (uint64_t)st.st_size) {
		uploader_seterr(u, "%s: range at %llu beyond its %lld bytes",
				name, (unsigned long long)off,
				(long long)st.st_size);
		ret = -EINVAL;
		goto out;
	}
	want = (size_t)SV_MIN(len, (uint64_t)st.st_size - off);
	if (want > cap) {
		ret = -ENOSPC;
		goto out;
	}
	while (got < want) {
		ssize_t n = pread(fd, (uint8_t *)buf + got, want - got,
				  (off_t)(off + got));

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			ret = n < 0 ? -errno : -EIO;
			uploader_seterr(u, "cannot read %s: %s", name,
					n < 0 ? strerror(errno) : "short file");
			goto out;
		}
		got += (size_t)n;
	}
	u->stats.gets++;
	u->stats.bytes_down += got;
	ret = (ssize_t)got;
out:
	close(fd);
	return ret;
}

static int local_get_part(struct uploader *u, const char *name, uint64_t off,
			  uint64_t len, void *buf, void *cookie)
{
	ssize_t n = local_get(u, name, off, len, buf, len);

	(void)cookie;
	if (n < 0)
		return (int)n;
	if ((uint64_t)n != len) {
		uploader_seterr(u, "%s: short read at %llu (%zd of %llu bytes)",
				name, (unsigned long long)off, n,
				(unsigned long long)len);
		return -EIO;
	}
	return SV_Q_DONE;
}

static int local_stat(struct uploader *u, const char *name, uint64_t *size)
{
	char path[PATH_MAX];
	struct stat st;
	int ret = path_of(u, name, path);

	if (ret)
		return ret;
	if (stat(path, &st)) {
		ret = -errno;
		if (ret != -ENOENT)
			uploader_seterr(u, "cannot stat %s: %s", name,
					strerror(errno));
		else
			uploader_seterr(u, "%s: no such object in %s", name,
					lp(u)->root);
		return ret;
	}
	*size = (uint64_t)st.st_size;
	return 0;
}

/* Depth-first walk of <root>/<rel>, reporting regular files. */
static int walk(struct uploader *u, const char *rel, const char *prefix,
		upl_list_cb cb, void *arg)
{
	char path[PATH_MAX], sub[PATH_MAX];
	struct dirent *de;
	DIR *d;
	int ret = 0;

	snprintf(path, sizeof(path), "%s/%s", lp(u)->root, rel);
	d = opendir(path);
	if (!d)
		return errno == ENOENT || errno == ENOTDIR ? 0 : -errno;
	while ((de = readdir(d))) {
		struct stat st;

		if (de->d_name[0] == '.')
			continue;
		snprintf(sub, sizeof(sub), "%s%s%s", rel, *rel ? "/" : "",
			 de->d_name);
		if (strncmp(sub, prefix, SV_MIN(strlen(sub), strlen(prefix))))
			continue;
		snprintf(path, sizeof(path), "%s/%s", lp(u)->root, sub);
		if (lstat(path, &st))
			continue;
		if (S_ISDIR(st.st_mode))
			ret = walk(u, sub, prefix, cb, arg);
		else if (S_ISREG(st.st_mode) &&
			 strncmp(sub, prefix, strlen(prefix)) == 0)
			ret = cb(arg, sub, (uint64_t)st.st_size, st.st_mtime);
		if (ret)
			break;
	}
	closedir(d);
	return ret;
}

static int local_list(struct uploader *u, const char *prefix, upl_list_cb cb,
		      void *arg)
{
	return walk(u, "", prefix, cb, arg);
}

static int local_remove(struct uploader *u, const char *name)
{
	char path[PATH_MAX];
	int ret = path_of(u, name, path);

	if (ret)
		return ret;
	if (unlink(path)) {
		ret = -errno;
		uploader_seterr(u, "cannot remove %s: %s", name, strerror(errno));
		return ret;
	}
	u->stats.deletes++;
	return 0;
}

const struct uploader_ops uploader_local = {
	.name = "local",
	.version = UPLOADER_VERSION,
	.flags = UPL_F_RANGED_GET | UPL_F_NOOVERWRITE,
	.priv_size = sizeof(struct local_priv),
	.init = local_init,
	.open = local_open,
	.put_part = local_put_part,
	.complete = local_complete,
	.abort = local_abort,
	.reap = local_reap,
	.put = local_put,
	.get = local_get,
	.get_part = local_get_part,
	.stat = local_stat,
	.list = local_list,
	.remove = local_remove,
};
