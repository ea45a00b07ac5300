/*
 * aead.h - AES-256-GCM seal/open over OpenSSL EVP.
 *
 * Sealed layout: nonce(12) || ciphertext(len) || tag(16), so a sealed buffer
 * is exactly len + AEAD_OVERHEAD bytes. The caller supplies the nonce (the
 * engine draws it from the CSPRNG); keeping the codec free of randomness
 * makes it testable against the NIST vectors. One struct aead per thread.
 */
#ifndef SV_CODECS_AEAD_H
#define SV_CODECS_AEAD_H

#include <sys/types.h>
#include "include/sv.h"

#define AEAD_KEY_LEN 32
#define AEAD_NONCE_LEN 12
#define AEAD_TAG_LEN 16
#define AEAD_OVERHEAD (AEAD_NONCE_LEN + AEAD_TAG_LEN)

struct aead;

/* Return: 0 or -ENOMEM. */
int aead_create(struct aead **out) SV_MUST_CHECK;
/* NULL is accepted. */
void aead_destroy(struct aead *a);

/*
 * Encrypt pt[0..len) under key with the given nonce and additional data.
 * out must hold len + AEAD_OVERHEAD bytes; it may not overlap pt.
 * Return: len + AEAD_OVERHEAD, or -EIO on an OpenSSL failure.
 */
ssize_t aead_seal(struct aead *a, const uint8_t key[AEAD_KEY_LEN],
		  const uint8_t nonce[AEAD_NONCE_LEN], const void *aad,
		  size_t aad_len, const void *pt, size_t len,
		  void *out) SV_MUST_CHECK;

/*
 * Verify and decrypt sealed[0..len) (nonce || ct || tag) into out
 * (len - AEAD_OVERHEAD bytes). Nothing in out may be used on failure.
 * Return: plaintext length, -EBADMSG on a tag mismatch (wrong key, wrong
 * AAD or damaged bytes), -EINVAL if len < AEAD_OVERHEAD, -EIO otherwise.
 */
ssize_t aead_open(struct aead *a, const uint8_t key[AEAD_KEY_LEN],
		  const void *aad, size_t aad_len, const void *sealed,
		  size_t len, void *out) SV_MUST_CHECK;

/*
 * Raw GCM with arbitrary nonce/tag lengths, for the published test vectors
 * (which use 96-bit and other IV sizes). key_len is 16, 24 or 32; out gets
 * len bytes. Encrypting writes tag_len (1..16) bytes of tag into tag;
 * decrypting checks the tag_len bytes given in tag. Not for the hot path:
 * it creates and frees its own cipher context on each call.
 * Return: 0, -EBADMSG (tag mismatch; out is wiped), -EINVAL (bad key, IV or
 * tag length), -ENOMEM, -EIO.
 */
int aead_gcm_raw(int encrypt, const uint8_t *key, size_t key_len,
		 const uint8_t *iv, size_t iv_len, const uint8_t *aad,
		 size_t aad_len, const uint8_t *in, size_t len, uint8_t *out,
		 uint8_t *tag, size_t tag_len) SV_MUST_CHECK;

#endif
