// Package shipper follows a lab host's log files and ships them to the
// receiver so that every byte arrives exactly once, across rotation and
// restarts.
//
// A source path is one stream: the concatenation of every generation of the
// file at that path. A generation is recognised by a fingerprint of its first
// bytes plus its inode (inodes are reused, so the inode alone is not enough).
// Each stream keeps a durable checkpoint: the generation being read, where it
// began in the stream, and how much of it the receiver has acknowledged. A
// lost or corrupt checkpoint is not fatal: the receiver's HEAD answer (length,
// generation, generation start) says where to resume.
package shipper
