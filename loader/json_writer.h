/* SPDX-License-Identifier: GPL-2.0 */
/*
 * A small streaming JSON writer: it places the commas and quotes, and
 * escapes strings, so that its callers only say what goes out.  Compact
 * output (no spaces), one document per writer.
 */
#ifndef MTHP_POLICY_JSON_WRITER_H
#define MTHP_POLICY_JSON_WRITER_H

#include <stdbool.h>
#include <stdio.h>

#define JW_MAX_DEPTH	16

struct json_writer {
	FILE *f;
	int depth;
	bool first[JW_MAX_DEPTH];	/* nothing written yet at this depth */
	bool after_key;			/* a key was written: its value comes next */
};

void jw_init(struct json_writer *w, FILE *f);
void jw_start_object(struct json_writer *w);
void jw_end_object(struct json_writer *w);
void jw_start_array(struct json_writer *w);
void jw_end_array(struct json_writer *w);
void jw_key(struct json_writer *w, const char *key);
void jw_string(struct json_writer *w, const char *s);
void jw_int(struct json_writer *w, long long v);
void jw_uint(struct json_writer *w, unsigned long long v);
/* A finite number printed with fmt ("%.2f"); null if it is not finite. */
void jw_float(struct json_writer *w, const char *fmt, double v);
void jw_bool(struct json_writer *w, bool v);
void jw_null(struct json_writer *w);

/* "key":value in one call. */
void jw_string_field(struct json_writer *w, const char *key, const char *s);
void jw_int_field(struct json_writer *w, const char *key, long long v);
void jw_uint_field(struct json_writer *w, const char *key, unsigned long long v);
void jw_float_field(struct json_writer *w, const char *key, const char *fmt, double v);
void jw_bool_field(struct json_writer *w, const char *key, bool v);

#endif
