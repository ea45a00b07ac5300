/*
 * fuzz_config.c - the repository config and key slots (FORMAT.md 2, 3):
 * the only plaintext JSON a repository holds, read before anything is
 * authenticated.
 *
 * config_parse() and slot_try() are static in engine/repo.c and read
 * through the backend, so this target goes through repo_open() on a real
 * local repository directory (under /dev/shm when it exists), rewritten
 * for every input.
 *
 * Input: le16 config length || config text || key slot text; opened with
 * the passphrase "fuzz". Key slots whose scrypt cost (n * r * p) exceeds
 * 2^14 are skipped before the call (the same parser would run, but each
 * input would cost up to a second and a gigabyte); gen_corpus.c writes
 * seeds with n = 16, r = 1, p = 1.
 * Properties: the result is one of repo_open()'s documented errors; an
 * opened repository has sane chunker parameters and a slot id.
 */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>

#include "tests/fuzz/fuzz.h"

#define SLOT_NAME "keys/0000000000000000000000000000000000000000000000000000" \
		  "000000000000"

static char dir[256];

static void write_file(const char *name, const uint8_t *data, size_t len)
{
	char path[512];
	int fd;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	if (fd < 0 || (len && write(fd, data, len) != (ssize_t)len))
		abort();
	close(fd);
}

static void setup(void)
{
	const char *base = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp";
	char keys[300];

	snprintf(dir, sizeof(dir), "%s/sv-fuzz-config-%d", base, (int)getpid());
	snprintf(keys, sizeof(keys), "%s/keys", dir);
	if ((mkdir(dir, 0700) && errno != EEXIST) ||
	    (mkdir(keys, 0700) && errno != EEXIST))
		abort();
	util_verbosity = -1;
}

static void cleanup(void)
{
	char path[512];

	snprintf(path, sizeof(path), "%s/%s", dir, SLOT_NAME);
	unlink(path);
	snprintf(path, sizeof(path), "%s/config", dir);
	unlink(path);
	snprintf(path, sizeof(path), "%s/keys", dir);
	rmdir(path);
	rmdir(dir);
}

/* Cost of the slot's scrypt parameters, as slot_try() would read them;
 * 0 when the slot would be rejected before scrypt runs anyway. */
static double slot_cost(const uint8_t *text, size_t len)
{
	json_int_t n = 0, r = 0, p = 0;
	json_error_t jerr;
	json_t *j = json_loadb((const char *)text, len, 0, &jerr);
	double cost = 0;

	if (j && !json_unpack(j, "{s:{s:I, s:I, s:I}}", "kdf", "n", &n, "r",
			      &r, "p", &p))
		cost = (double)n * (double)r * (double)p;
	json_decref(j);
	return cost;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static int ready;
	struct repo *r = NULL;
	char errbuf[512];
	size_t clen;
	int ret;

	if (!ready) {
		setup();
		atexit(cleanup);
		ready = 1;
	}
	if (size < 2)
		return 0;
	clen = sv_get_le16(data);
	if (clen > size - 2)
		clen = size - 2;
	if (slot_cost(data + 2 + clen, size - 2 - clen) > (1 << 14))
		return 0;
	write_file("config", data + 2, clen);
	write_file(SLOT_NAME, data + 2 + clen, size - 2 - clen);
	ret = repo_open(&r, dir, NULL, "fuzz", 4, errbuf);
	FUZZ_ASSERT(ret == 0 || ret == -EACCES || ret == -EBADMSG ||
		    ret == -EPROTONOSUPPORT || ret == -EINVAL ||
		    ret == -ENOMEM);
	if (ret == 0) {
		FUZZ_ASSERT(r->params.cdc_min >= 64 &&
			    r->params.cdc_min < r->params.cdc_avg &&
			    r->params.cdc_avg < r->params.cdc_max);
		FUZZ_ASSERT(strlen(r->slot) == 64);
		repo_close(r);
	} else {
		FUZZ_ASSERT(r == NULL && errbuf[0] != '\0');
	}
	return 0;
}
