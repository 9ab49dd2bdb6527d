DROP FUNCTION eventreg_give_up_place(text, boolean, bigint, bigint, text, text, text);
DROP FUNCTION eventreg_take_place(text, bigint, boolean);
DROP FUNCTION eventreg_promote_head(bigint, integer, bigint, text);
