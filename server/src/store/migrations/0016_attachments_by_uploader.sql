-- A user's uploads by time: what they uploaded and have not sent yet counts
-- against a cap (`--max-unsent-upload-mib`), summed over this index.
CREATE INDEX attachments_by_uploader ON attachments(uploader_id, created_at);
