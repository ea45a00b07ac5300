/*
 * repo.c - repository config, key slots and sealed metadata (repo.h).
 *
 * Key hierarchy (docs/FORMAT.md, "Keys"):
 *   master key MK: 32 random bytes, never stored in the clear;
 *   each key slot wraps MK with AES-256-GCM under KEK = scrypt(passphrase);
 *   subkeys = HKDF-SHA256(ikm = MK, salt = repository id, info = label).
 * Changing or adding a passphrase rewrites one small slot object and never
 * touches data.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "codecs/aead.h"
#include "codecs/compress.h"
#include "codecs/kdf.h"
#include "engine/repo.h"
#include "engine/util.h"

#define SLOT_AAD "sstvault keyslot v1"
#define MAX_SLOTS 64

void repo_default_params(struct repo_params *p)
{
	p->cdc_min = CDC_MIN_DEFAULT;
	p->cdc_avg = CDC_AVG_DEFAULT;
	p->cdc_max = CDC_MAX_DEFAULT;
	p->zstd_level = 1;
	p->pack_size = 64ull << 20;
	p->scrypt_n = 1u << 15;
	p->scrypt_r = 8;
	p->scrypt_p = 1;
}

int repo_new_oid(char hex[2 * SV_OID_LEN + 1])
{
	uint8_t id[SV_OID_LEN];
	int ret = util_random(id, sizeof(id));

	if (!ret)
		sv_hex(hex, id, sizeof(id));
	return ret;
}

static int hkdf_label(const struct repo *r, const char *label, uint8_t *out,
		      size_t len)
{
	return kdf_hkdf(r->id, REPO_ID_LEN, r->master, sizeof(r->master),
			(const uint8_t *)label, strlen(label), out, len);
}

/* Derive every subkey from the master key and set up the keyed chunker. */
static int derive(struct repo *r)
{
	uint8_t gear[CDC_GEAR_BYTES];
	int ret;

	ret = hkdf_label(r, "sstvault v1 data", r->k_data, 32);
	if (!ret)
		ret = hkdf_label(r, "sstvault v1 meta", r->k_meta, 32);
	if (!ret)
		ret = hkdf_label(r, "sstvault v1 catalog", r->k_catalog, 32);
	if (!ret)
		ret = hkdf_label(r, "sstvault v1 chunk-id", r->id_secret,
				 HASH_SECRET_LEN);
	if (!ret)
		ret = hkdf_label(r, "sstvault v1 gear", gear, sizeof(gear));
	if (!ret)
		ret = cdc_init(&r->cdc, gear, r->params.cdc_min,
			       r->params.cdc_avg, r->params.cdc_max);
	util_wipe(gear, sizeof(gear));
	return ret;
}

/* The config MAC covers every field a reader acts on. */
static int config_mac(const struct repo *r, char hex[65])
{
	char msg[256], idhex[2 * REPO_ID_LEN + 1];
	uint8_t key[32], mac[32];
	int ret;

	sv_hex(idhex, r->id, REPO_ID_LEN);
	snprintf(msg, sizeof(msg), "sstvault config v%d|%s|%u|%u|%u|%d|%llu",
		 SV_FORMAT_VERSION, idhex, r->params.cdc_min,
		 r->params.cdc_avg, r->params.cdc_max, r->params.zstd_level,
		 (unsigned long long)r->params.pack_size);
	ret = hkdf_label(r, "sstvault v1 config-mac", key, sizeof(key));
	if (!ret)
		ret = kdf_hmac_sha256(key, sizeof(key), msg, strlen(msg), mac);
	if (!ret)
		sv_hex(hex, mac, sizeof(mac));
	util_wipe(key, sizeof(key));
	return ret;
}

static json_t *config_json(const struct repo *r, const char *mac)
{
	char idhex[2 * REPO_ID_LEN + 1], now[40];

	sv_hex(idhex, r->id, REPO_ID_LEN);
	util_fmt_time(now, sizeof(now), util_now_ns());
	return json_pack("{s:s, s:i, s:s, s:s, s:{s:I, s:I, s:I}, s:{s:s, s:i},"
			 " s:I, s:s}",
			 "format", "sstvault", "version", SV_FORMAT_VERSION,
			 "repo_id", idhex, "created", now, "chunker",
			 "min", (json_int_t)r->params.cdc_min,
			 "avg", (json_int_t)r->params.cdc_avg,
			 "max", (json_int_t)r->params.cdc_max,
			 "compression", "codec", "zstd", "level",
			 r->params.zstd_level,
			 "pack_size", (json_int_t)r->params.pack_size,
			 "mac", mac);
}

/* Wrap MK under a passphrase: returns the slot JSON text (caller frees). */
static char *slot_make(const struct repo *r, const char *pass,
		       size_t pass_len, const char *slot_hex, const char *kind)
{
	uint8_t salt[16], kek[32], nonce[AEAD_NONCE_LEN];
	uint8_t wrapped[32 + AEAD_OVERHEAD], aad[64];
	char *salt64 = NULL, *wrap64 = NULL, *text = NULL, now[40];
	struct aead *a = NULL;
	json_t *j = NULL;
	size_t aad_len;

	if (util_random(salt, sizeof(salt)) || util_random(nonce, sizeof(nonce)))
		return NULL;
	if (kdf_scrypt(pass, pass_len, salt, sizeof(salt), r->params.scrypt_n,
		       r->params.scrypt_r, r->params.scrypt_p, kek, sizeof(kek)))
		goto out;
	if (aead_create(&a))
		goto out;
	aad_len = (size_t)snprintf((char *)aad, sizeof(aad), "%s", SLOT_AAD);
	memcpy(aad + aad_len, r->id, REPO_ID_LEN);
	aad_len += REPO_ID_LEN;
	if (aead_seal(a, kek, nonce, aad, aad_len, r->master, 32, wrapped) < 0)
		goto out;
	salt64 = util_b64enc(salt, sizeof(salt));
	wrap64 = util_b64enc(wrapped, sizeof(wrapped));
	util_fmt_time(now, sizeof(now), util_now_ns());
	j = json_pack("{s:i, s:s, s:s, s:s, s:{s:s, s:I, s:i, s:i, s:s}, s:s}",
		      "version", SV_FORMAT_VERSION, "id", slot_hex, "kind",
		      kind, "created", now, "kdf", "name", "scrypt",
		      "n", (json_int_t)r->params.scrypt_n, "r",
		      (int)r->params.scrypt_r, "p", (int)r->params.scrypt_p,
		      "salt", salt64 ? salt64 : "", "wrapped",
		      wrap64 ? wrap64 : "");
	if (j && salt64 && wrap64)
		text = json_dumps(j, JSON_INDENT(1) | JSON_SORT_KEYS);
out:
	util_wipe(kek, sizeof(kek));
	json_decref(j);
	free(salt64);
	free(wrap64);
	aead_destroy(a);
	return text;
}

int repo_add_slot(struct repo *r, const char *pass, size_t pass_len,
		  char *slot_hex)
{
	return repo_add_slot_kind(r, pass, pass_len, "passphrase", slot_hex);
}

int repo_add_slot_kind(struct repo *r, const char *pass, size_t pass_len,
		       const char *kind, char *slot_hex)
{
	char hex[2 * SV_OID_LEN + 1], name[128], *text;
	int ret;

	ret = repo_new_oid(hex);
	if (ret)
		return ret;
	text = slot_make(r, pass, pass_len, hex, kind);
	if (!text)
		return -EIO;
	snprintf(name, sizeof(name), "keys/%s", hex);
	ret = r->up->ops->put(r->up, name, text, strlen(text),
			      UPL_PUT_NO_OVERWRITE);
	free(text);
	if (!ret && slot_hex)
		memcpy(slot_hex, hex, sizeof(hex));
	return ret;
}

/*
 * Try one slot. Return: 0 with r->master set; -EACCES if the passphrase
 * does not open it; -EINVAL if the slot is malformed or of unknown kind.
 */
static int slot_try(struct repo *r, const char *text, size_t len,
		    const char *pass, size_t pass_len)
{
	uint8_t salt[64], wrapped[128], kek[32], aad[64];
	const char *kind = NULL, *kdf = NULL, *salt64 = NULL, *wrap64 = NULL;
	json_int_t n = 0;
	int rr = 0, pp = 0, version = 0, ret = -EINVAL;
	ssize_t salt_len, wrap_len, got;
	struct aead *a = NULL;
	json_error_t jerr;
	json_t *j;
	size_t aad_len;

	j = json_loadb(text, len, 0, &jerr);
	if (!j)
		return -EINVAL;
	if (json_unpack(j, "{s:i, s:s, s:{s:s, s:I, s:i, s:i, s:s}, s:s}",
			"version", &version, "kind", &kind, "kdf", "name", &kdf,
			"n", &n, "r", &rr, "p", &pp, "salt", &salt64,
			"wrapped", &wrap64))
		goto out;
	if (version != SV_FORMAT_VERSION ||
	    (strcmp(kind, "passphrase") && strcmp(kind, "keyfile")) ||
	    strcmp(kdf, "scrypt") || n < 2 || n > (1 << 22) || rr < 1 ||
	    rr > 64 || pp < 1 || pp > 16)
		goto out;
	salt_len = util_b64dec(salt64, salt, sizeof(salt));
	wrap_len = util_b64dec(wrap64, wrapped, sizeof(wrapped));
	if (salt_len < 8 || wrap_len != 32 + AEAD_OVERHEAD)
		goto out;
	ret = kdf_scrypt(pass, pass_len, salt, (size_t)salt_len, (uint64_t)n,
			 (uint32_t)rr, (uint32_t)pp, kek, sizeof(kek));
	if (ret)
		goto out;
	ret = aead_create(&a);
	if (ret)
		goto out;
	aad_len = (size_t)snprintf((char *)aad, sizeof(aad), "%s", SLOT_AAD);
	memcpy(aad + aad_len, r->id, REPO_ID_LEN);
	aad_len += REPO_ID_LEN;
	got = aead_open(a, kek, aad, aad_len, wrapped, (size_t)wrap_len,
			r->master);
	ret = got == 32 ? 0 : got == -EBADMSG ? -EACCES : -EIO;
out:
	util_wipe(kek, sizeof(kek));
	aead_destroy(a);
	json_decref(j);
	return ret;
}

struct slot_list {
	char names[MAX_SLOTS][128];
	size_t n;
};

static int slot_list_cb(void *arg, const char *name, uint64_t size,
			int64_t mtime)
{
	struct slot_list *l = arg;

	(void)mtime;
	if (l->n < MAX_SLOTS && size < 65536)
		snprintf(l->names[l->n++], sizeof(l->names[0]), "%s", name);
	return 0;
}

/* Parse and check the plaintext config fields (not yet the MAC). */
static int config_parse(struct repo *r, const char *text, size_t len,
			const char **mac, json_t **root, char *errbuf)
{
	const char *fmt = NULL, *idhex = NULL, *codec = NULL;
	json_int_t mn = 0, av = 0, mx = 0, ps = 0;
	int version = 0, level = 0;
	json_error_t jerr;
	json_t *j;

	j = json_loadb(text, len, 0, &jerr);
	if (!j) {
		snprintf(errbuf, 512, "%s: config is not valid JSON (%s)",
			 r->location, jerr.text);
		return -EBADMSG;
	}
	*root = j;
	if (json_unpack(j, "{s:s, s:i}", "format", &fmt, "version", &version) ||
	    strcmp(fmt, "sstvault")) {
		snprintf(errbuf, 512, "%s: not an sstvault repository config",
			 r->location);
		return -EBADMSG;
	}
	if (version != SV_FORMAT_VERSION) {
		snprintf(errbuf, 512,
			 "%s: repository format version %d is not supported by "
			 "this sstvault (it reads version %d); use a newer "
			 "sstvault", r->location, version, SV_FORMAT_VERSION);
		return -EPROTONOSUPPORT;
	}
	if (json_unpack(j, "{s:s, s:{s:I, s:I, s:I}, s:{s:s, s:i}, s:I, s:s}",
			"repo_id", &idhex, "chunker", "min", &mn, "avg", &av,
			"max", &mx, "compression", "codec", &codec, "level",
			&level, "pack_size", &ps, "mac", mac) ||
	    strlen(idhex) != 2 * REPO_ID_LEN ||
	    sv_unhex(r->id, idhex, REPO_ID_LEN) || strcmp(codec, "zstd") ||
	    mn < 64 || av <= mn || mx <= av || mx > (64 << 20) || level < 1 ||
	    level > 19 || ps < (1 << 20) || ps > (1ll << 32)) {
		snprintf(errbuf, 512, "%s: config has missing or invalid fields",
			 r->location);
		return -EBADMSG;
	}
	r->params.cdc_min = (uint32_t)mn;
	r->params.cdc_avg = (uint32_t)av;
	r->params.cdc_max = (uint32_t)mx;
	r->params.zstd_level = level;
	r->params.pack_size = (uint64_t)ps;
	return 0;
}

int repo_list_slots(struct repo *r, struct repo_slot *out, size_t max,
		    size_t *n)
{
	struct slot_list *l = calloc(1, sizeof(*l));
	int ret;

	*n = 0;
	if (!l)
		return -ENOMEM;
	ret = r->up->ops->list(r->up, "keys/", slot_list_cb, l);
	for (size_t i = 0; !ret && i < l->n && *n < max; i++) {
		struct repo_slot *s = &out[*n];
		uint8_t *text = NULL;
		size_t len;
		json_t *j;
		const char *kind = "?", *created = "?";

		memset(s, 0, sizeof(*s));
		snprintf(s->id, sizeof(s->id), "%s", l->names[i] + 5);
		if (uploader_get_all(r->up, l->names[i], 65536, &text, &len))
			continue;
		j = json_loadb((const char *)text, len, 0, NULL);
		if (j)
			json_unpack(j, "{s?s, s?s}", "kind", &kind, "created",
				    &created);
		snprintf(s->kind, sizeof(s->kind), "%s", kind);
		snprintf(s->created, sizeof(s->created), "%s", created);
		s->current = !strcmp(s->id, r->slot);
		json_decref(j);
		free(text);
		(*n)++;
	}
	free(l);
	return ret;
}

int repo_remove_slot(struct repo *r, const char *id_prefix, char *errbuf)
{
	struct repo_slot slots[MAX_SLOTS];
	size_t n = 0, match = 0, which = 0;
	char name[128];
	int ret = repo_list_slots(r, slots, MAX_SLOTS, &n);

	if (ret)
		return ret;
	for (size_t i = 0; i < n; i++)
		if (!strncmp(slots[i].id, id_prefix, strlen(id_prefix))) {
			match++;
			which = i;
		}
	if (match != 1 || strlen(id_prefix) < 4) {
		snprintf(errbuf, 512, "key %s: %s", id_prefix,
			 match ? "ambiguous, give more digits" : "no such key");
		return match ? -EINVAL : -ENOENT;
	}
	if (n == 1) {
		snprintf(errbuf, 512, "key %s is the only key; add another "
			 "before removing it", slots[which].id);
		return -EPERM;
	}
	snprintf(name, sizeof(name), "keys/%s", slots[which].id);
	ret = r->up->ops->remove(r->up, name);
	if (ret)
		snprintf(errbuf, 512, "cannot remove %s: %s", name,
			 r->up->errbuf);
	return ret;
}

int repo_open(struct repo **out, const char *location,
	      const struct upl_opts *uo, const char *pass, size_t pass_len,
	      char *errbuf)
{
	struct slot_list *slots = NULL;
	struct repo *r = NULL;
	uint8_t *text = NULL;
	const char *mac = NULL, *bad = NULL;
	char want[65];
	json_t *cfg = NULL;
	size_t len, unusable = 0;
	int ret;

	*out = NULL;
	errbuf[0] = '\0';
	r = calloc(1, sizeof(*r));
	slots = calloc(1, sizeof(*slots));
	if (!r || !slots) {
		ret = -ENOMEM;
		goto err;
	}
	repo_default_params(&r->params);
	snprintf(r->location, sizeof(r->location), "%s", location);
	ret = uploader_create(&r->up, location, uo, errbuf);
	if (ret)
		goto err;
	ret = uploader_get_all(r->up, "config", 1 << 20, &text, &len);
	if (ret == -ENOENT) {
		snprintf(errbuf, 512,
			 "%s: no repository here (no config object); create "
			 "one with 'sstvault init'", location);
		goto err;
	}
	if (ret) {
		snprintf(errbuf, 512, "%s: cannot read config: %s", location,
			 r->up->errbuf[0] ? r->up->errbuf : strerror(-ret));
		goto err;
	}
	ret = config_parse(r, (const char *)text, len, &mac, &cfg, errbuf);
	if (ret)
		goto err;
	ret = r->up->ops->list(r->up, "keys/", slot_list_cb, slots);
	if (ret) {
		snprintf(errbuf, 512, "%s: cannot list key slots: %s", location,
			 r->up->errbuf);
		goto err;
	}
	ret = -EACCES;
	for (size_t i = 0; i < slots->n && ret; i++) {
		uint8_t *st = NULL;
		size_t sl;

		if (uploader_get_all(r->up, slots->names[i], 65536, &st, &sl)) {
			unusable++;
			bad = slots->names[i];
			continue;
		}
		ret = slot_try(r, (const char *)st, sl, pass, pass_len);
		if (!ret)
			snprintf(r->slot, sizeof(r->slot), "%s",
				 slots->names[i] + 5);
		/* -EINVAL: the slot is not a key slot of this format (not
		 * JSON, a field missing or out of range): damage, which a
		 * wrong passphrase (-EACCES) must not be mistaken for. */
		if (ret == -EINVAL) {
			unusable++;
			bad = slots->names[i];
		}
		free(st);
	}
	if (!slots->n) {
		snprintf(errbuf, 512, "%s: no key slot (keys/ is empty); the "
			 "repository cannot be opened. Restore the keys/ "
			 "object(s) from a copy of the repository", location);
		ret = -EACCES;
		goto err;
	}
	if (ret && unusable == slots->n) {
		snprintf(errbuf, 512,
			 "%s: key slot %s is damaged (not a readable key "
			 "slot)%s; the passphrase was not tried. Restore the "
			 "keys/ object(s) from a copy of the repository",
			 location, bad, slots->n > 1 ? ", and so is every "
			 "other" : "");
		ret = -EACCES;
		goto err;
	}
	if (ret) {
		char also[200] = "";

		if (unusable)
			snprintf(also, sizeof(also), " (%zu more cannot be "
				 "read and were skipped, e.g. %s)", unusable,
				 bad);
		snprintf(errbuf, 512,
			 "%s: wrong passphrase: none of the %zu key slot(s)%s "
			 "opens with it; check --password-file or "
			 "SSTVAULT_PASSWORD_FILE", location,
			 slots->n - unusable, also);
		ret = -EACCES;
		goto err;
	}
	ret = config_mac(r, want);
	if (ret)
		goto err;
	if (strcmp(want, mac)) {
		snprintf(errbuf, 512,
			 "%s: config object was modified (MAC mismatch); "
			 "refusing to use it", location);
		ret = -EBADMSG;
		goto err;
	}
	ret = derive(r);
	if (ret)
		goto err;
	*out = r;
	r = NULL;
err:
	json_decref(cfg);
	free(text);
	free(slots);
	repo_close(r);
	return ret;
}

int repo_init(const char *location, const struct upl_opts *uo,
	      const struct repo_params *p, const char *pass, size_t pass_len,
	      char *errbuf)
{
	struct repo *r = NULL;
	char mac[65], *text = NULL;
	json_t *cfg = NULL;
	uint64_t size;
	int ret;

	errbuf[0] = '\0';
	r = calloc(1, sizeof(*r));
	if (!r)
		return -ENOMEM;
	r->params = *p;
	snprintf(r->location, sizeof(r->location), "%s", location);
	ret = uploader_create(&r->up, location, uo, errbuf);
	if (ret)
		goto out;
	ret = r->up->ops->stat(r->up, "config", &size);
	if (ret == 0) {
		snprintf(errbuf, 512, "%s: a repository already exists here",
			 location);
		ret = -EEXIST;
		goto out;
	}
	if (ret != -ENOENT) {
		snprintf(errbuf, 512, "%s: %s", location, r->up->errbuf);
		goto out;
	}
	ret = util_random(r->id, sizeof(r->id));
	if (!ret)
		ret = util_random(r->master, sizeof(r->master));
	if (!ret)
		ret = derive(r);
	if (ret) {
		snprintf(errbuf, 512, "invalid repository parameters");
		goto out;
	}
	ret = repo_add_slot(r, pass, pass_len, r->slot);
	if (ret) {
		snprintf(errbuf, 512, "%s: cannot write key slot: %s", location,
			 r->up->errbuf);
		goto out;
	}
	ret = config_mac(r, mac);
	if (ret)
		goto out;
	cfg = config_json(r, mac);
	text = cfg ? json_dumps(cfg, JSON_INDENT(1) | JSON_SORT_KEYS) : NULL;
	if (!text) {
		ret = -ENOMEM;
		goto out;
	}
	ret = r->up->ops->put(r->up, "config", text, strlen(text),
			      UPL_PUT_NO_OVERWRITE);
	if (ret)
		snprintf(errbuf, 512, "%s: cannot write config: %s", location,
			 r->up->errbuf);
out:
	free(text);
	json_decref(cfg);
	repo_close(r);
	return ret;
}

void repo_close(struct repo *r)
{
	if (!r)
		return;
	uploader_destroy(r->up);
	util_wipe(r, sizeof(*r));
	free(r);
}

static void seal_aad(const struct repo *r, const uint8_t *hdr, uint8_t *aad)
{
	memcpy(aad, hdr, SEAL_HDR_LEN);
	memcpy(aad + SEAL_HDR_LEN, r->id, REPO_ID_LEN);
}

int repo_seal(const struct repo *r, enum sv_meta_kind kind, const void *pt,
	      size_t len, uint8_t **out, size_t *out_len)
{
	uint8_t aad[SEAL_HDR_LEN + REPO_ID_LEN], nonce[AEAD_NONCE_LEN];
	struct compress *z = NULL;
	struct aead *a = NULL;
	uint8_t *zbuf = NULL, *buf = NULL;
	const void *body = pt;
	size_t body_len = len, cap;
	enum sv_codec codec = SV_CODEC_NONE;
	ssize_t n;
	int ret;

	*out = NULL;
	ret = compress_create(&z, 3);
	if (!ret)
		ret = aead_create(&a);
	if (ret)
		goto out;
	cap = compress_bound(len);
	zbuf = malloc(cap);
	if (!zbuf) {
		ret = -ENOMEM;
		goto out;
	}
	n = compress_chunk(z, zbuf, cap, pt, len, 32, &codec);
	if (n < 0) {
		ret = (int)n;
		goto out;
	}
	body = zbuf;
	body_len = (size_t)n;
	buf = malloc(SEAL_HDR_LEN + body_len + AEAD_OVERHEAD);
	if (!buf) {
		ret = -ENOMEM;
		goto out;
	}
	memcpy(buf, SEAL_MAGIC, 4);
	buf[4] = SV_FORMAT_VERSION;
	buf[5] = (uint8_t)kind;
	buf[6] = (uint8_t)codec;
	buf[7] = 0;
	seal_aad(r, buf, aad);
	ret = util_random(nonce, sizeof(nonce));
	if (ret)
		goto out;
	n = aead_seal(a, r->k_meta, nonce, aad, sizeof(aad), body, body_len,
		      buf + SEAL_HDR_LEN);
	if (n < 0) {
		ret = (int)n;
		goto out;
	}
	*out = buf;
	*out_len = SEAL_HDR_LEN + (size_t)n;
	buf = NULL;
out:
	free(buf);
	free(zbuf);
	aead_destroy(a);
	compress_destroy(z);
	return ret;
}

int repo_unseal(const struct repo *r, enum sv_meta_kind kind,
		const void *buf, size_t len, uint8_t **out, size_t *out_len)
{
	uint8_t aad[SEAL_HDR_LEN + REPO_ID_LEN];
	const uint8_t *p = buf;
	struct compress *z = NULL;
	struct aead *a = NULL;
	uint8_t *body = NULL, *plain = NULL;
	size_t body_len;
	ssize_t n;
	int ret;

	*out = NULL;
	if (len < SEAL_HDR_LEN + AEAD_OVERHEAD || memcmp(p, SEAL_MAGIC, 4))
		return -EINVAL;
	if (p[4] != SV_FORMAT_VERSION)
		return -EPROTONOSUPPORT;
	if (p[5] != kind || p[6] > SV_CODEC_ZSTD)
		return -EBADMSG;
	seal_aad(r, p, aad);
	ret = aead_create(&a);
	if (ret)
		goto out;
	body_len = len - SEAL_HDR_LEN - AEAD_OVERHEAD;
	body = malloc(body_len + 1);
	if (!body) {
		ret = -ENOMEM;
		goto out;
	}
	n = aead_open(a, r->k_meta, aad, sizeof(aad), p + SEAL_HDR_LEN,
		      len - SEAL_HDR_LEN, body);
	if (n < 0) {
		ret = (int)n;
		goto out;
	}
	if (p[6] == SV_CODEC_NONE) {
		body[body_len] = '\0';
		*out = body;
		*out_len = body_len;
		body = NULL;
		goto out;
	}
	{
		/* The frame header records the content size; refuse
		 * anything over the metadata limit before allocating. */
		unsigned long long raw = compress_frame_size(body, body_len);

		if (raw == 0 || raw > REPO_MAX_META) {
			ret = -EBADMSG;
			goto out;
		}
		ret = compress_create(&z, 1);
		if (ret)
			goto out;
		plain = malloc((size_t)raw + 1);
		if (!plain) {
			ret = -ENOMEM;
			goto out;
		}
		n = compress_undo(z, plain, (size_t)raw, body, body_len,
				  (size_t)raw);
		if (n < 0) {
			ret = (int)n;
			goto out;
		}
		plain[raw] = '\0';
		*out = plain;
		*out_len = (size_t)raw;
		plain = NULL;
	}
out:
	free(plain);
	free(body);
	compress_destroy(z);
	aead_destroy(a);
	return ret;
}

int repo_put_meta(struct repo *r, const char *name, enum sv_meta_kind kind,
		  const void *pt, size_t len, unsigned flags)
{
	uint8_t *sealed = NULL;
	size_t sl;
	int ret = repo_seal(r, kind, pt, len, &sealed, &sl);

	if (!ret)
		ret = r->up->ops->put(r->up, name, sealed, sl, flags);
	free(sealed);
	return ret;
}

int repo_get_meta(struct repo *r, const char *name, enum sv_meta_kind kind,
		  uint8_t **out, size_t *out_len)
{
	uint8_t *raw = NULL;
	size_t rl;
	int ret = uploader_get_all(r->up, name, REPO_MAX_META, &raw, &rl);

	if (ret)
		return ret;
	ret = repo_unseal(r, kind, raw, rl, out, out_len);
	if (ret)
		uploader_seterr(r->up, "%s: %s", name,
				ret == -EPROTONOSUPPORT ?
				"written by a newer sstvault (unknown format "
				"version)" :
				"damaged or not readable with this key "
				"(authentication failed)");
	free(raw);
	return ret;
}

/* ------------------------------------------------------------------ */
/* For tests and fuzzing only                                          */
/* ------------------------------------------------------------------ */

/*
 * repo_open() cannot open a "mem:" location twice (every uploader_create
 * of "mem:" makes a fresh, empty store), so engine tests and fuzz targets
 * build their repository here: fixed id and master key, so that sealed
 * seeds written once stay valid, and the subkeys derived exactly as
 * repo_open() derives them.
 */
int repo_open_mem(struct repo **out, const uint8_t id[REPO_ID_LEN],
		  const uint8_t master[32], const struct repo_params *p)
{
	char errbuf[512];
	struct repo *r;
	int ret;

	*out = NULL;
	r = calloc(1, sizeof(*r));
	if (!r)
		return -ENOMEM;
	if (p)
		r->params = *p;
	else
		repo_default_params(&r->params);
	snprintf(r->location, sizeof(r->location), "mem:");
	memcpy(r->id, id, REPO_ID_LEN);
	memcpy(r->master, master, sizeof(r->master));
	ret = uploader_create(&r->up, "mem:", NULL, errbuf);
	if (!ret)
		ret = derive(r);
	if (ret) {
		repo_close(r);
		return ret;
	}
	*out = r;
	return 0;
}
