-- fauna_fdw_infer(): the columns IMPORT FOREIGN SCHEMA ... OPTIONS (infer,
-- infer_depth) would add for one collection, with what was seen, creating
-- nothing.  Not loaded by anything: to be pasted into the 1.1 install
-- script (fauna_fdw--1.1.sql) and the upgrade script (fauna_fdw--1.0--1.1.sql).
-- The C function checks USAGE on the server and reads with the caller's
-- user mapping, as IMPORT FOREIGN SCHEMA does.
CREATE FUNCTION fauna_fdw_infer(server name, collection text,
                                sample integer DEFAULT 1000,
                                depth integer DEFAULT 1)
  RETURNS TABLE (column_name text, column_type text, path text,
                 present bigint, sampled bigint, seen text, comment text)
  AS 'MODULE_PATHNAME', 'fauna_fdw_infer'
  LANGUAGE C STRICT VOLATILE PARALLEL RESTRICTED
  SET search_path = pg_catalog, pg_temp;

COMMENT ON FUNCTION fauna_fdw_infer(name, text, integer, integer) IS
  'columns inferred from a sample of up to "sample" documents of a Fauna collection (nested objects flattened down to "depth" levels): what IMPORT FOREIGN SCHEMA ... OPTIONS (infer, infer_depth) would add, with the statistics behind each type';
