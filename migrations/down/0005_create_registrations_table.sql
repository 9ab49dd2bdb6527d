DROP TABLE registrations;
DROP SEQUENCE waitlist_rank_seq;
