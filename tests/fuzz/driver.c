/*
 * driver.c - replay inputs through a fuzz target without libFuzzer.
 *
 * Linked with one tests/fuzz/fuzz_*.c by tests/t_fuzz_regress.sh so that
 * `make test` (and `make asan`) runs the stored corpus and every saved
 * crash with the normal compiler: each argument is a file or a directory
 * whose regular files (sorted by name) are fed to LLVMFuzzerTestOneInput
 * one at a time. A target that finds a violated property aborts, which
 * fails the test with the input's name printed just before.
 */
#include <dirent.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int run_file(const char *path)
{
	struct stat st;
	uint8_t *buf;
	FILE *f;
	size_t got;

	if (stat(path, &st) || !S_ISREG(st.st_mode))
		return 0;
	f = fopen(path, "rb");
	if (!f) {
		fprintf(stderr, "cannot open %s: %s\n", path, strerror(errno));
		return -1;
	}
	/* An exact-size buffer, so AddressSanitizer sees any overread. */
	buf = malloc(st.st_size ? (size_t)st.st_size : 1);
	if (!buf) {
		fclose(f);
		return -1;
	}
	got = fread(buf, 1, (size_t)st.st_size, f);
	fclose(f);
	if (got != (size_t)st.st_size) {
		fprintf(stderr, "cannot read %s\n", path);
		free(buf);
		return -1;
	}
	fprintf(stderr, "input %s (%zu bytes)\n", path, got);
	LLVMFuzzerTestOneInput(buf, got);
	free(buf);
	return 1;
}

static int by_name(const struct dirent **a, const struct dirent **b)
{
	return strcmp((*a)->d_name, (*b)->d_name);
}

int main(int argc, char **argv)
{
	long runs = 0;

	for (int i = 1; i < argc; i++) {
		struct dirent **names;
		struct stat st;
		int n;

		if (stat(argv[i], &st)) {
			/* A missing corpus or crash directory is empty. */
			continue;
		}
		if (!S_ISDIR(st.st_mode)) {
			int r = run_file(argv[i]);

			if (r < 0)
				return 1;
			runs += r;
			continue;
		}
		n = scandir(argv[i], &names, NULL, by_name);
		if (n < 0) {
			fprintf(stderr, "cannot list %s: %s\n", argv[i],
				strerror(errno));
			return 1;
		}
		for (int k = 0; k < n; k++) {
			char path[4096];
			int r = 0;

			if (names[k]->d_name[0] != '.') {
				snprintf(path, sizeof(path), "%s/%s", argv[i],
					 names[k]->d_name);
				r = run_file(path);
			}
			free(names[k]);
			if (r < 0)
				return 1;
			runs += r;
		}
		free(names);
	}
	printf("%ld inputs replayed\n", runs);
	return 0;
}
