/*
 * s3.h - the S3 backend's extra entry points.
 *
 * Everything the engine needs from S3 goes through `uploader_s3` (see
 * uploader.h). The functions below serve the CLI and the tests: creating
 * the bucket at `sstvault init`, and finding and aborting multipart uploads
 * that a crashed run left behind (`sstvault uploads list|abort`); S3 bills
 * their parts until they are aborted.
 *
 * All of them take an uploader made by uploader_create() on an s3://
 * location; passing another backend returns -EINVAL. Like every operation
 * of one uploader they must be called from the thread that drives it. Names
 * are relative to the repository prefix, as everywhere else.
 */
#ifndef SV_UPLOADERS_S3_H
#define SV_UPLOADERS_S3_H

#include <stdint.h>
#include "uploaders/uploader.h"

extern const struct uploader_ops uploader_s3;

/* ---- bucket ---- */

/*
 * Create the repository's bucket (PUT Bucket; outside us-east-1 with a
 * LocationConstraint naming the region). A bucket the caller already owns
 * counts as success, so `sstvault init` may run it unconditionally.
 * Return: 0, -EEXIST (someone else owns that name), -EACCES, -EAGAIN,
 * -EIO; details in u->errbuf.
 */
int s3_create_bucket(struct uploader *u) SV_MUST_CHECK;

/* ---- leftover multipart uploads ---- */

/*
 * Called once per unfinished multipart upload. name is relative to the
 * repository prefix, upload_id is the server's id, initiated_s the start
 * time (Unix seconds, 0 when the server did not say). The strings are only
 * valid during the call. A non-zero return stops the walk and is returned
 * by s3_list_uploads(). The callback may call s3_abort_upload().
 */
typedef int (*s3_upload_cb)(void *arg, const char *name,
			    const char *upload_id, int64_t initiated_s);

/*
 * List the multipart uploads under the repository prefix
 * (ListMultipartUploads, paginated).
 * Return: 0, the callback's non-zero value, or -errno.
 */
int s3_list_uploads(struct uploader *u, s3_upload_cb cb, void *arg)
	SV_MUST_CHECK;

/*
 * Abort one multipart upload by name and id (AbortMultipartUpload, retried
 * like every request). An upload that is already gone counts as success.
 * Return: 0, -EACCES, -EAGAIN, -EIO.
 */
int s3_abort_upload(struct uploader *u, const char *name,
		    const char *upload_id) SV_MUST_CHECK;

#endif /* SV_UPLOADERS_S3_H */
