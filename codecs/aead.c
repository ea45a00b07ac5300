/*
 * aead.c - AES-256-GCM seal/open over OpenSSL EVP.
 *
 * One EVP_CIPHER_CTX per struct aead, bound to AES-256-GCM once in
 * aead_create(). Every seal/open then re-keys it with
 * EVP_CipherInit_ex(ctx, NULL, NULL, key, iv, enc): passing a NULL cipher
 * keeps the provider context and skips the algorithm fetch that OpenSSL 3
 * would otherwise repeat (with its locks) on each call, so the hot path does
 * no allocation and takes no global lock. Keys change per chunk (the engine
 * derives one per chunk id), so the key schedule is redone each call anyway;
 * that costs well under a microsecond against ~250 us for a 1 MiB chunk.
 *
 * The 96-bit nonce is GCM's default IV length, so the IV length is never
 * set on the shared context.
 */
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "codecs/aead.h"

struct aead {
	EVP_CIPHER_CTX *ctx;
};

int aead_create(struct aead **out)
{
	struct aead *a;

	*out = NULL;
	a = calloc(1, sizeof(*a));
	if (!a)
		return -ENOMEM;
	a->ctx = EVP_CIPHER_CTX_new();
	if (!a->ctx)
		goto err;
	/* Bind the algorithm now; keys and nonces come per call. */
	if (EVP_EncryptInit_ex(a->ctx, EVP_aes_256_gcm(), NULL, NULL,
			       NULL) != 1)
		goto err;
	*out = a;
	return 0;
err:
	aead_destroy(a);
	return -ENOMEM;
}

void aead_destroy(struct aead *a)
{
	if (!a)
		return;
	EVP_CIPHER_CTX_free(a->ctx);
	free(a);
}

/*
 * Feed in[0..len) through EVP_CipherUpdate, in pieces that fit its int
 * length. out == NULL feeds additional authenticated data.
 * Return: 0 or -EIO.
 */
static int aead_update(EVP_CIPHER_CTX *ctx, uint8_t *out, const uint8_t *in,
		       size_t len)
{
	while (len > 0) {
		int n = (int)SV_MIN(len, (size_t)(INT_MAX - 15) & ~(size_t)15);
		int outl = 0;

		if (EVP_CipherUpdate(ctx, out, &outl, in, n) != 1)
			return -EIO;
		/* GCM is a stream mode: output length equals input length. */
		if (out && outl != n)
			return -EIO;
		in += n;
		if (out)
			out += n;
		len -= (size_t)n;
	}
	return 0;
}

ssize_t aead_seal(struct aead *a, const uint8_t key[AEAD_KEY_LEN],
		  const uint8_t nonce[AEAD_NONCE_LEN], const void *aad,
		  size_t aad_len, const void *pt, size_t len, void *out)
{
	EVP_CIPHER_CTX *ctx = a->ctx;
	uint8_t *o = out;
	/*
	 * GCM's Final step writes no bytes. All three functions give it a
	 * scratch buffer instead of a pointer past the message, which would
	 * be NULL + 0 for an empty message in aead_gcm_raw().
	 */
	uint8_t fin[AEAD_TAG_LEN];
	int outl = 0;

	memcpy(o, nonce, AEAD_NONCE_LEN);
	if (EVP_CipherInit_ex(ctx, NULL, NULL, key, nonce, 1) != 1)
		return -EIO;
	if (aead_update(ctx, NULL, aad, aad_len))
		return -EIO;
	if (aead_update(ctx, o + AEAD_NONCE_LEN, pt, len))
		return -EIO;
	if (EVP_CipherFinal_ex(ctx, fin, &outl) != 1)
		return -EIO;
	if (EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_GET_TAG, AEAD_TAG_LEN,
				o + AEAD_NONCE_LEN + len) != 1)
		return -EIO;
	return (ssize_t)(len + AEAD_OVERHEAD);
}

ssize_t aead_open(struct aead *a, const uint8_t key[AEAD_KEY_LEN],
		  const void *aad, size_t aad_len, const void *sealed,
		  size_t len, void *out)
{
	EVP_CIPHER_CTX *ctx = a->ctx;
	const uint8_t *s = sealed;
	uint8_t tag[AEAD_TAG_LEN], fin[AEAD_TAG_LEN];
	size_t ct_len;
	int outl = 0;
	ssize_t ret = -EIO;

	if (len < AEAD_OVERHEAD)
		return -EINVAL;
	ct_len = len - AEAD_OVERHEAD;
	/* The ctrl below takes a non-const pointer; copy rather than cast. */
	memcpy(tag, s + AEAD_NONCE_LEN + ct_len, AEAD_TAG_LEN);
	if (EVP_CipherInit_ex(ctx, NULL, NULL, key, s, 0) != 1)
		goto out;
	if (aead_update(ctx, NULL, aad, aad_len))
		goto out;
	if (aead_update(ctx, out, s + AEAD_NONCE_LEN, ct_len))
		goto out;
	if (EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_TAG, AEAD_TAG_LEN,
				tag) != 1)
		goto out;
	if (EVP_CipherFinal_ex(ctx, fin, &outl) != 1) {
		ret = -EBADMSG;
		goto out;
	}
	ret = (ssize_t)ct_len;
out:
	/*
	 * GCM decrypts before it authenticates, so on failure out holds
	 * unauthenticated plaintext. Wipe it so that a caller ignoring the
	 * error cannot leak or use it.
	 */
	if (ret < 0 && ct_len)
		OPENSSL_cleanse(out, ct_len);
	return ret;
}

int aead_gcm_raw(int encrypt, const uint8_t *key, size_t key_len,
		 const uint8_t *iv, size_t iv_len, const uint8_t *aad,
		 size_t aad_len, const uint8_t *in, size_t len, uint8_t *out,
		 uint8_t *tag, size_t tag_len)
{
	const EVP_CIPHER *cipher;
	EVP_CIPHER_CTX *ctx = NULL;
	uint8_t fin[AEAD_TAG_LEN];
	int outl = 0, ret = -EIO;

	switch (key_len) {
	case 16:
		cipher = EVP_aes_128_gcm();
		break;
	case 24:
		cipher = EVP_aes_192_gcm();
		break;
	case 32:
		cipher = EVP_aes_256_gcm();
		break;
	default:
		return -EINVAL;
	}
	if (iv_len == 0 || iv_len > INT_MAX || tag_len == 0 ||
	    tag_len > AEAD_TAG_LEN)
		return -EINVAL;
	/* A fresh context per call: this is for test vectors, not hot. */
	ctx = EVP_CIPHER_CTX_new();
	if (!ctx)
		return -ENOMEM;
	if (EVP_CipherInit_ex(ctx, cipher, NULL, NULL, NULL, encrypt) != 1)
		goto out;
	if (iv_len != AEAD_NONCE_LEN &&
	    EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_IVLEN, (int)iv_len,
				NULL) != 1)
		goto out;
	if (EVP_CipherInit_ex(ctx, NULL, NULL, key, iv, encrypt) != 1)
		goto out;
	if (aead_update(ctx, NULL, aad, aad_len))
		goto out;
	if (aead_update(ctx, out, in, len))
		goto out;
	if (!encrypt && EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_TAG,
					    (int)tag_len, tag) != 1)
		goto out;
	if (EVP_CipherFinal_ex(ctx, fin, &outl) != 1) {
		/* For decryption, Final fails only on a tag mismatch. */
		ret = encrypt ? -EIO : -EBADMSG;
		goto out;
	}
	if (encrypt && EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_GET_TAG,
					   (int)tag_len, tag) != 1)
		goto out;
	ret = 0;
out:
	if (ret < 0 && !encrypt && len)
		OPENSSL_cleanse(out, len);
	EVP_CIPHER_CTX_free(ctx);
	return ret;
}
