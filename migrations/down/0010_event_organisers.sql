DROP TABLE event_organisers;
