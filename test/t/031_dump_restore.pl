# pg_dump / pg_restore keeps everything: a primary with keys in every state
# (valid, test environment with scopes and metadata, revoked, disabled,
# expired, inactive user, rotated with its successor, another tenant; stored
# as SHA-256 and, after a pepper is set, as HMAC), the bound users, roles and
# permissions tables, and the audit trail.  The dump (custom format) is
# restored with --create into a fresh node that has never seen the extension
# (CREATE EXTENSION comes from the dump).  There every key verifies exactly
# as before, apikey_list and the tables are identical, the bindings are kept,
# and new keys (and events) get ids above every restored one.  No key is in
# the dump.
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

# the pepper lives in a file only the server's OS user can read; each node
# gets its own copy (configuration and such files are not in a dump)
sub pepper_conf
{
	my ($node) = @_;
	my $path = $node->basedir . '/pepper';
	open(my $fh, '>', $path) or die "open $path: $!";
	print $fh "dump-restore-pepper\n";
	close($fh);
	chmod(0600, $path) or die "chmod $path: $!";
	return "apikey.pepper_file = '$path'\n";
}

# the pepper file is read when the library loads: at server start when preloaded
my $old = PostgreSQL::Test::Cluster->new('dump_source');
$old->init;
$old->append_conf('postgresql.conf', "shared_preload_libraries = 'apikey'\n");
$old->start;
$old->safe_psql('postgres', 'CREATE DATABASE appdb');

$old->safe_psql('appdb', q{
	CREATE EXTENSION apikey CASCADE;
	CREATE TABLE users (id int PRIMARY KEY, tenant_id text NOT NULL, role text,
	                    active boolean NOT NULL DEFAULT true);
	INSERT INTO users VALUES (1, 't1', 'owner', true), (2, 't1', 'reader', true),
	                         (3, 't1', 'reader', true), (10, 't2', 'owner', true);
	CREATE TABLE roles (name text PRIMARY KEY, parent text);
	INSERT INTO roles VALUES ('reader', NULL), ('owner', 'reader');
	CREATE TABLE grants (role text NOT NULL, permission text NOT NULL);
	INSERT INTO grants VALUES ('reader', 'docs:read'), ('owner', 'docs:write'), ('owner', 'apikey:manage');
	SELECT apikey_bind_users('users', active_column => 'active');
	SELECT apikey_bind_roles('roles');
	SELECT apikey_bind_permissions('grants');
});

# Keys: label => key (kept in Perl only: the database never holds a key)
my %key;
my %id;
sub create_key
{
	my ($label, $args) = @_;
	my $row = $old->safe_psql('appdb', "SELECT id || ' ' || key FROM apikey_create($args)");
	($id{$label}, $key{$label}) = split / /, $row;
}

# stored as plain SHA-256
create_key('valid', q{'t1', '1', 'valid'});
create_key('test_env', q{'t1', '2', 'test env', environment => 'test', scopes => ARRAY['docs:read'],
	metadata => '{"service": "reports", "n": 1}', expires_at => now() + interval '30 days'});
create_key('revoked', q{'t1', '1', 'revoked'});
create_key('disabled', q{'t1', '2', 'disabled'});
create_key('expired', q{'t1', '1', 'expired', expires_at => now() + interval '1 hour'});
create_key('inactive_user', q{'t1', '3', 'inactive user'});
create_key('rotated', q{'t1', '1', 'rotated'});
create_key('other_tenant', q{'t2', '10', 'other tenant', scopes => ARRAY['*']});
$old->safe_psql('appdb', qq{
	SELECT apikey_revoke($id{revoked}, 'compromised');
	SELECT apikey_disable($id{disabled});
	UPDATE apikey.keys SET expires_at = now() - interval '1 minute' WHERE id = $id{expired};
	UPDATE users SET active = false WHERE id = 3;
});
{
	my $row = $old->safe_psql('appdb', "SELECT id || ' ' || key FROM apikey_rotate($id{rotated}, '7 days')");
	($id{successor}, $key{successor}) = split / /, $row;
}
# then a pepper: later keys are stored as HMAC-SHA-256
$old->append_conf('postgresql.conf', pepper_conf($old));
$old->restart;
is($old->safe_psql('appdb', q{SELECT current_setting('apikey.pepper_file') <> ''}), 't', 'pepper in effect on the source');
create_key('peppered', q{'t1', '2', 'peppered', scopes => ARRAY['docs:read', 'docs:write']});
create_key('peppered_revoked', q{'t2', '10', 'peppered, revoked'});
$old->safe_psql('appdb', qq{SELECT apikey_revoke_key('$key{peppered_revoked}')});
is($old->safe_psql('appdb', q{SELECT string_agg(DISTINCT hash_scheme, ',' ORDER BY hash_scheme) FROM apikey.keys}),
	'hmac-sha256,sha256', 'both hash schemes are in the table');

my %want = (
	valid => 'valid', test_env => 'valid', revoked => 'revoked', disabled => 'disabled',
	expired => 'expired', inactive_user => 'user_inactive', rotated => 'valid', successor => 'valid',
	other_tenant => 'valid', peppered => 'valid', peppered_revoked => 'revoked');
my @labels = sort keys %want;
# an unknown key: well-formed, never issued (a real key with its row deleted)
create_key('unknown', q{'t1', '1', 'to be deleted'});
$old->safe_psql('appdb', "DELETE FROM apikey.keys WHERE id = $id{unknown}");
$want{unknown} = 'unknown';
@labels = sort keys %want;

# Everything that must survive, as text
sub verify_all
{
	my ($node) = @_;
	my %got;
	for my $l (@labels) {
		$got{$l} = $node->safe_psql('appdb', "SELECT row(v.*)::text FROM apikey_verify('$key{$l}') v");
	}
	return \%got;
}
sub snapshot
{
	my ($node) = @_;
	return join "\n---\n",
	  $node->safe_psql('appdb', 'SELECT row(l.*)::text FROM apikey_list(\'t1\') l'),
	  $node->safe_psql('appdb', 'SELECT row(l.*)::text FROM apikey_list(\'t2\') l'),
	  $node->safe_psql('appdb', 'SELECT row(k.*)::text FROM apikey.keys k ORDER BY id'),
	  $node->safe_psql('appdb', 'SELECT row(e.*)::text FROM apikey.events e ORDER BY id'),
	  $node->safe_psql('appdb', 'SELECT row(b.*)::text FROM apikey.user_binding b'),
	  $node->safe_psql('appdb', 'SELECT row(b.*)::text FROM apikey.role_binding b'),
	  $node->safe_psql('appdb', 'SELECT row(b.*)::text FROM apikey.permission_binding b'),
	  $node->safe_psql('appdb', 'SELECT row(u.*)::text FROM users u ORDER BY id'),
	  $node->safe_psql('appdb', q{SELECT extversion FROM pg_extension WHERE extname = 'apikey'}),
	  $node->safe_psql('appdb', q{SELECT string_agg(tgname, ',' ORDER BY tgname) FROM pg_trigger
	                              WHERE NOT tgisinternal AND tgrelid IN ('users'::regclass, 'roles'::regclass,
	                                                                     'grants'::regclass, 'apikey.keys'::regclass)});
}

my $before = verify_all($old);
for my $l (@labels) {
	like($before->{$l}, qr/^\(\w,$want{$l},/, "source: $l verifies as $want{$l}");
}
like($before->{peppered}, qr/docs:read/, 'source: permissions come from the bound tables');
my $snap_old = snapshot($old);
my $max_old = $old->safe_psql('appdb', 'SELECT max(id) FROM apikey.keys');
my $max_event = $old->safe_psql('appdb', 'SELECT max(id) FROM apikey.events');
cmp_ok($max_old, '>=', $id{unknown} - 1, 'ids of the source');

# --- dump --------------------------------------------------------------------
my $tmp = PostgreSQL::Test::Utils::tempdir;
my $dump = "$tmp/appdb.dump";
$old->command_ok([ 'pg_dump', '-Fc', '-f', $dump, '-d', $old->connstr('appdb') ], 'pg_dump -Fc');
# a plain-text dump too, to look inside: hashes, never keys
$old->command_ok([ 'pg_dump', '-Fp', '-f', "$tmp/appdb.sql", '-d', $old->connstr('appdb') ], 'pg_dump -Fp');
my $plain = slurp_file("$tmp/appdb.sql");
like($plain, qr/CREATE EXTENSION IF NOT EXISTS apikey/, 'the dump creates the extension');
my @keys_in_dump = grep { index($plain, $key{$_}) >= 0 || index($plain, substr($key{$_}, 8, 32)) >= 0 } @labels;
is(scalar(@keys_in_dump), 0, 'no key in the dump');

# --- restore into a fresh node -------------------------------------------------
my $new = PostgreSQL::Test::Cluster->new('dump_target');
$new->init;
$new->append_conf('postgresql.conf', "shared_preload_libraries = 'apikey'\n" . pepper_conf($new));
$new->start;
is($new->safe_psql('postgres', q{SELECT count(*) FROM pg_extension WHERE extname = 'apikey'}), '0',
	'target has no apikey before the restore');
$new->command_ok([ 'pg_restore', '--exit-on-error', '--create', '-d', $new->connstr('postgres'), $dump ],
	'pg_restore --create');

# identical before any verification on the target
my $snap_new = snapshot($new);
is($snap_new, $snap_old, 'lists, keys, events, bindings, users, triggers: identical');
is($new->safe_psql('appdb', q{SELECT string_agg(rolname || ':' || rolcanlogin, ',' ORDER BY rolname) FROM pg_roles
                              WHERE rolname IN ('apikey_admin', 'apikey_verifier')}),
	'apikey_admin:false,apikey_verifier:false', 'the roles of the extension exist on the target');
is($new->safe_psql('appdb', q{SELECT has_function_privilege('apikey_admin', 'apikey_create(text,text,text,timestamptz,text,text[],jsonb,integer,interval,bigint,bigint,interval)', 'EXECUTE')
                                  AND has_function_privilege('apikey_verifier', 'apikey_verify(text)', 'EXECUTE')
                                  AND NOT has_function_privilege('apikey_verifier', 'apikey_create(text,text,text,timestamptz,text,text[],jsonb,integer,interval,bigint,bigint,interval)', 'EXECUTE')
                                  AND NOT has_table_privilege('apikey_admin', 'apikey.keys', 'SELECT')
                                  AND NOT has_function_privilege('public', 'apikey_verify(text)', 'EXECUTE')}),
	't', 'privileges as after CREATE EXTENSION');

# every key verifies exactly as before
my $after = verify_all($new);
for my $l (@labels) {
	is($after->{$l}, $before->{$l}, "target: $l verifies exactly as on the source ($want{$l})");
}

# the bindings are live: a change in the users table shows at once
$new->safe_psql('appdb', q{UPDATE users SET role = 'reader' WHERE id = 1});
is($new->safe_psql('appdb', "SELECT role || ' ' || array_to_string(permissions, ',') FROM apikey_verify('$key{valid}')"),
	'reader docs:read', 'target: role and permissions read live from the restored tables');

# new keys and events get ids above every restored one; they verify
my $row = $new->safe_psql('appdb', q{SELECT id || ' ' || key FROM apikey_create('t1', '2', 'after restore')});
my ($new_id, $new_key) = split / /, $row;
cmp_ok($new_id, '>', $max_old, "a new key's id ($new_id) is above every restored id ($max_old)");
is($new->safe_psql('appdb', "SELECT status FROM apikey_verify('$new_key')"), 'valid', 'the new key verifies');
is($new->safe_psql('appdb', q{SELECT hash_scheme FROM apikey.keys ORDER BY id DESC LIMIT 1}), 'hmac-sha256',
	'the new key is stored with the pepper');
cmp_ok($new->safe_psql('appdb', 'SELECT max(id) FROM apikey.events'), '>', $max_event,
	'new audit events get ids above every restored one');
is($new->safe_psql('appdb', 'SELECT count(*) FROM apikey.keys k1 JOIN apikey.keys k2 ON k1.id = k2.id AND k1.ctid <> k2.ctid'),
	'0', 'no id collision');
# a restored key can still be managed
is($new->safe_psql('appdb', "SELECT apikey_revoke($id{valid}, 'after restore')"), 't', 'revoke a restored key');
is($new->safe_psql('appdb', "SELECT status FROM apikey_verify('$key{valid}')"), 'revoked', 'it is revoked');
is($new->safe_psql('appdb', "SELECT id FROM apikey_rotate($id{successor})") > $max_old ? 'ok' : 'collision',
	'ok', 'rotate a restored key');

$old->stop;
$new->stop;
done_testing();
