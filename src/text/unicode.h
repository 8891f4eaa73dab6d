/* Character classes exactly as HuggingFace tokenizers' BERT pipeline sees them.
 * Data comes from utf8proc; categories are pinned to Unicode 8.0 (what HF's
 * unicode_categories crate implements) by treating later assignments as unassigned. */
#ifndef OMEGA_TEXT_UNICODE_H
#define OMEGA_TEXT_UNICODE_H

#include <stdbool.h>
#include <stdint.h>

/* Max code points one character expands to under NFD (utf8proc's bound is 4; Hangul 3). */
#define OMEGA_UC_MAX_DECOMP 8

bool omega__uc_after_8_0(uint32_t c);
/* Assigned after Unicode 9.0: HF's normalization forms (unicode-normalization tables of 9.0)
 * leave such a character alone (no decomposition, combining class 0). */
bool omega__uc_after_9_0(uint32_t c);
/* clean_text drops these: Cc, Cf, Co (Unicode 8.0) except \t \n \r. */
bool omega__uc_is_control(uint32_t c);
/* Rust char::is_whitespace (White_Space property). */
bool omega__uc_is_whitespace(uint32_t c);
/* BertPreTokenizer punctuation: ASCII punctuation or Unicode P* (8.0). */
bool omega__uc_is_punct(uint32_t c);
/* Unicode Mn (8.0): dropped by strip_accents. */
bool omega__uc_is_nonspacing_mark(uint32_t c);
/* The CJK ideograph ranges HF's handle_chinese_chars pads with spaces. */
bool omega__uc_is_cjk(uint32_t c);
/* Regex \w (Unicode): letters, marks, decimal digits, letter numbers, Pc, ZWNJ/ZWJ. */
bool omega__uc_is_word(uint32_t c);
/* Rust char::to_lowercase: writes 1 or 2 code points, returns the count. */
int omega__uc_lower(uint32_t c, uint32_t out[2]);
/* Canonical decomposition (NFD) of one character; returns the count. */
int omega__uc_nfd(uint32_t c, uint32_t out[OMEGA_UC_MAX_DECOMP]);
int omega__uc_ccc(uint32_t c);

#endif
