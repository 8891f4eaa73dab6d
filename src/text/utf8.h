#ifndef OMEGA_TEXT_UTF8_H
#define OMEGA_TEXT_UTF8_H

#include <stddef.h>
#include <stdint.h>

/* Decode one scalar value from s[0..n), n >= 1. Returns the byte length (1..4), or 0 when
 * the bytes at s are not valid UTF-8 (overlong, surrogate, > U+10FFFF, truncated). In that
 * case *bad is set to the length of the maximal ill-formed subpart (>= 1), which is what
 * one U+FFFD replaces under the WHATWG / Python errors="replace" convention. */
size_t omega__utf8_decode(const unsigned char *s, size_t n, uint32_t *cp, size_t *bad);
/* Encode c (a valid scalar value) to out (4 bytes); returns the length. */
size_t omega__utf8_encode(uint32_t c, unsigned char *out);
/* Byte offset of the first invalid sequence, or n when all of s is valid. */
size_t omega__utf8_validate(const unsigned char *s, size_t n);

#endif
