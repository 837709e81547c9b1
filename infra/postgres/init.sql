-- One role and one database per service, for the compose set-up (local credentials only).
-- A service's role can connect to its own database and no other.
CREATE ROLE brobygger_referrals LOGIN PASSWORD 'dev-referrals';
CREATE ROLE brobygger_directory LOGIN PASSWORD 'dev-directory';
CREATE ROLE brobygger_grants LOGIN PASSWORD 'dev-grants';
CREATE ROLE brobygger_notifications LOGIN PASSWORD 'dev-notifications';
-- The referrals key store: a database and role of its own, so that referrals' role cannot read
-- the data keys and a backup of referrals' database alone decrypts nothing.
CREATE ROLE brobygger_referrals_keys LOGIN PASSWORD 'dev-referrals_keys';
CREATE DATABASE brobygger_referrals OWNER brobygger_referrals;
CREATE DATABASE brobygger_directory OWNER brobygger_directory;
CREATE DATABASE brobygger_grants OWNER brobygger_grants;
CREATE DATABASE brobygger_notifications OWNER brobygger_notifications;
CREATE DATABASE brobygger_referrals_keys OWNER brobygger_referrals_keys;
REVOKE ALL ON DATABASE brobygger_referrals, brobygger_directory, brobygger_grants,
  brobygger_notifications, brobygger_referrals_keys FROM PUBLIC;
GRANT CONNECT, TEMPORARY ON DATABASE brobygger_referrals TO brobygger_referrals;
GRANT CONNECT, TEMPORARY ON DATABASE brobygger_directory TO brobygger_directory;
GRANT CONNECT, TEMPORARY ON DATABASE brobygger_grants TO brobygger_grants;
GRANT CONNECT, TEMPORARY ON DATABASE brobygger_notifications TO brobygger_notifications;
GRANT CONNECT, TEMPORARY ON DATABASE brobygger_referrals_keys TO brobygger_referrals_keys;
