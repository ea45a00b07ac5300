/*
 * kdf.h - key derivation: HKDF-SHA256 (RFC 5869), HMAC-SHA256 and scrypt
 * (RFC 7914), all through OpenSSL's EVP_KDF / EVP_MAC interfaces.
 *
 * Argon2id would be preferable for passphrases, but OpenSSL gained it only
 * in 3.2 and Debian 12 ships 3.0; scrypt's parameters are stored in each key
 * slot, so a later format can add argon2id without breaking old slots.
 */
#ifndef SV_CODECS_KDF_H
#define SV_CODECS_KDF_H

#include "include/sv.h"

/* HKDF-SHA256 extract+expand. An empty salt means HashLen zero bytes.
 * Return: 0, -EINVAL (out_len zero or above 255 * 32), -EIO. */
int kdf_hkdf(const uint8_t *salt, size_t salt_len, const uint8_t *ikm,
	     size_t ikm_len, const uint8_t *info, size_t info_len,
	     uint8_t *out, size_t out_len) SV_MUST_CHECK;

/* HMAC-SHA256 of msg under key; out gets 32 bytes. An empty key or message
 * may be passed as (NULL, 0). Return: 0, -EINVAL (key over INT_MAX bytes)
 * or -EIO. */
int kdf_hmac_sha256(const uint8_t *key, size_t key_len, const void *msg,
		    size_t msg_len, uint8_t out[32]) SV_MUST_CHECK;

/*
 * Memory ceiling for scrypt: 128 * r * (N + 2 + p) bytes must fit. It admits
 * N = 2^20 with r = 8 (1 GiB, RFC 7914's largest vector) with room for p.
 */
#define KDF_SCRYPT_MAXMEM ((UINT64_C(1) << 30) + (UINT64_C(32) << 20))

/* scrypt(pass, salt, N, r, p) -> out_len bytes. Allocates up to
 * KDF_SCRYPT_MAXMEM internally (OpenSSL) for the duration of the call.
 * Return: 0, -EINVAL (N not a power of two, r, p or out_len zero, or over
 * KDF_SCRYPT_MAXMEM), -EIO (OpenSSL failure, including parameters that
 * OpenSSL rejects such as N >= 2^(16 r)). */
int kdf_scrypt(const void *pass, size_t pass_len, const uint8_t *salt,
	       size_t salt_len, uint64_t n, uint32_t r, uint32_t p,
	       uint8_t *out, size_t out_len) SV_MUST_CHECK;

#endif
