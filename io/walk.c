/*
 * walk.c - see walk.h.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "io/walk.h"

static void fill(struct walk_entry *e, const struct stat *st)
{
	e->mode = st->st_mode & 07777;
	e->mtime_ns = (int64_t)st->st_mtim.tv_sec * 1000000000 +
		      st->st_mtim.tv_nsec;
	e->size = (uint64_t)st->st_size;
	e->ino = st->st_ino;
	e->dev = st->st_dev;
	e->nlink = st->st_nlink;
	if (S_ISREG(st->st_mode))
		e->type = 'f';
	else if (S_ISDIR(st->st_mode))
		e->type = 'd';
	else if (S_ISLNK(st->st_mode))
		e->type = 'l';
	else
		e->type = 'o';
	if (e->type != 'f')
		e->size = 0;
}

int walk_stat(const char *path, struct walk_entry *e)
{
	struct stat st;

	if (lstat(path, &st))
		return -errno;
	fill(e, &st);
	return 0;
}

static int cmp_names(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Sorted names of a directory (malloc'ed array of malloc'ed strings). */
static int list_dir(const char *path, char ***out, size_t *n)
{
	DIR *d = opendir(path);
	struct dirent *de;
	char **v = NULL;
	size_t cnt = 0, cap = 0;
	int ret = 0;

	*out = NULL;
	*n = 0;
	if (!d)
		return -errno;
	while ((de = readdir(d))) {
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		if (cnt == cap) {
			size_t nc = cap ? 2 * cap : 32;
			char **nv = realloc(v, nc * sizeof(*nv));

			if (!nv) {
				ret = -ENOMEM;
				break;
			}
			v = nv;
			cap = nc;
		}
		v[cnt] = strdup(de->d_name);
		if (!v[cnt]) {
			ret = -ENOMEM;
			break;
		}
		cnt++;
	}
	closedir(d);
	if (cnt)
		qsort(v, cnt, sizeof(*v), cmp_names);
	*out = v;
	*n = cnt;
	return ret;
}

static int walk_dir(const char *root, const char *rel, walk_fn fn, void *arg)
{
	char path[PATH_MAX], sub[PATH_MAX], target[PATH_MAX];
	char **names = NULL;
	size_t n = 0;
	int ret;

	snprintf(path, sizeof(path), "%s%s%s", root, *rel ? "/" : "", rel);
	ret = list_dir(path, &names, &n);
	if (ret && ret != -ENOMEM) {
		struct walk_entry e = { .rel = rel, .name = rel, .type = 'd',
					.err = ret };

		/* "Skip this directory" (1) is the answer we want here, not
		 * an error to pass up. */
		ret = fn(arg, &e);
		if (ret == 1)
			ret = 0;
		goto out;
	}
	for (size_t i = 0; i < n && !ret; i++) {
		struct walk_entry e = { 0 };
		int r2;

		if (snprintf(sub, sizeof(sub), "%s%s%s", rel, *rel ? "/" : "",
			     names[i]) >= (int)sizeof(sub) ||
		    snprintf(path, sizeof(path), "%s/%s", root, sub) >=
			    (int)sizeof(path)) {
			e.rel = sub;
			e.name = names[i];
			e.err = -ENAMETOOLONG;
			ret = fn(arg, &e);
			continue;
		}
		e.rel = sub;
		e.name = names[i];
		e.err = walk_stat(path, &e);
		if (!e.err && e.type == 'l') {
			ssize_t tl = readlink(path, target, sizeof(target) - 1);

			if (tl < 0) {
				e.err = -errno;
			} else {
				target[tl] = '\0';
				e.target = target;
			}
		}
		r2 = fn(arg, &e);
		if (r2 == 1)
			continue;
		if (r2) {
			ret = r2;
			break;
		}
		if (!e.err && e.type == 'd')
			ret = walk_dir(root, sub, fn, arg);
	}
out:
	for (size_t i = 0; i < n; i++)
		free(names[i]);
	free(names);
	return ret;
}

int walk_tree(const char *root, walk_fn fn, void *arg)
{
	struct walk_entry e = { .rel = "", .name = "" };
	int ret;

	e.err = walk_stat(root, &e);
	if (e.err)
		return e.err;
	if (e.type != 'd')
		return -ENOTDIR;
	ret = fn(arg, &e);
	if (ret)
		return ret == 1 ? 0 : ret;
	return walk_dir(root, "", fn, arg);
}
