/* apikey--1.1--1.1.1.sql: hardening release (issue 9) and faster verification (issue 11) */

-- complain if script is sourced in psql, rather than via ALTER EXTENSION
\echo Use "ALTER EXTENSION apikey UPDATE TO '1.1.1'" to load this file. \quit

-- ---------------------------------------------------------------------------
-- Section 1: verification caches (bound tables' invalidation triggers)
-- ---------------------------------------------------------------------------

-- ---------------------------------------------------------------------------
-- Section 2: last-used tracking
-- ---------------------------------------------------------------------------

-- ---------------------------------------------------------------------------
-- Section 3: management functions
-- ---------------------------------------------------------------------------
