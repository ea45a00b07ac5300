/*
 * kdf.c - HKDF-SHA256, HMAC-SHA256 and scrypt through OpenSSL 3.
 *
 * These run once per repository open or once per chunk (the per-chunk key
 * HMAC), never per byte, so they use OpenSSL's convenient interfaces even
 * though those fetch algorithms and allocate internally on each call. That
 * is the one deliberate exception to "no allocation after create" in
 * codecs/: measured cost is a few microseconds per call, against ~250 us to
 * seal a 1 MiB chunk.
 */
#include <errno.h>
#include <limits.h>
#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/kdf.h>
#include <openssl/params.h>

#include "codecs/kdf.h"

#define KDF_SHA256_LEN 32

int kdf_hkdf(const uint8_t *salt, size_t salt_len, const uint8_t *ikm,
	     size_t ikm_len, const uint8_t *info, size_t info_len,
	     uint8_t *out, size_t out_len)
{
	/* Non-const copies: OSSL_PARAM takes void * even for inputs. */
	char digest[] = "SHA256";
	OSSL_PARAM params[5], *p = params;
	EVP_KDF *kdf = NULL;
	EVP_KDF_CTX *kctx = NULL;
	int ret = -EIO;

	/* RFC 5869 2.3: L <= 255 * HashLen. */
	if (out_len == 0 || out_len > 255 * KDF_SHA256_LEN)
		return -EINVAL;
	kdf = EVP_KDF_fetch(NULL, "HKDF", NULL);
	if (!kdf)
		goto out;
	kctx = EVP_KDF_CTX_new(kdf);
	if (!kctx)
		goto out;
	*p++ = OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST, digest,
						0);
	*p++ = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_KEY,
						 (void *)ikm, ikm_len);
	/*
	 * An absent salt means HashLen zero bytes (RFC 5869 2.2), which is
	 * what OpenSSL does when the parameter is missing; an empty info is
	 * simply no info.
	 */
	if (salt_len)
		*p++ = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_SALT,
							 (void *)salt,
							 salt_len);
	if (info_len)
		*p++ = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_INFO,
							 (void *)info,
							 info_len);
	*p = OSSL_PARAM_construct_end();
	if (EVP_KDF_derive(kctx, out, out_len, params) != 1)
		goto out;
	ret = 0;
out:
	EVP_KDF_CTX_free(kctx);
	EVP_KDF_free(kdf);
	return ret;
}

int kdf_hmac_sha256(const uint8_t *key, size_t key_len, const void *msg,
		    size_t msg_len, uint8_t out[32])
{
	static const uint8_t empty[1];
	unsigned int len = 0;

	if (key_len > INT_MAX)
		return -EINVAL;
	/*
	 * OpenSSL reads a NULL key as "no key given" and fails; an empty key
	 * (legal for HMAC) must still be a real pointer.
	 */
	if (!key)
		key = empty;
	if (!msg)
		msg = empty;
	if (!HMAC(EVP_sha256(), key, (int)key_len, msg, msg_len, out, &len))
		return -EIO;
	return len == KDF_SHA256_LEN ? 0 : -EIO;
}

int kdf_scrypt(const void *pass, size_t pass_len, const uint8_t *salt,
	       size_t salt_len, uint64_t n, uint32_t r, uint32_t p,
	       uint8_t *out, size_t out_len)
{
	uint64_t need;

	/*
	 * Check the parameters here so that bad ones give -EINVAL rather
	 * than an indistinct OpenSSL failure. Memory is 128 * r * (N + 2)
	 * bytes for V plus 128 * r * p for B, as OpenSSL counts it.
	 */
	if (n < 2 || (n & (n - 1)) || r == 0 || p == 0 || out_len == 0)
		return -EINVAL;
	if (n > KDF_SCRYPT_MAXMEM / 128 / r)
		return -EINVAL;
	need = 128 * (uint64_t)r * (n + 2) + 128 * (uint64_t)r * p;
	if (need > KDF_SCRYPT_MAXMEM)
		return -EINVAL;
	if (EVP_PBE_scrypt(pass, pass_len, salt, salt_len, n, r, p,
			   KDF_SCRYPT_MAXMEM, out, out_len) != 1)
		return -EIO;
	return 0;
}
