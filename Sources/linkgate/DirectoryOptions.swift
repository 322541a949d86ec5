import ArgumentParser
import LinkgateCore
import LinkgateLDAP
import LinkgateServer

/// `--ldap-*`: a shared user base from an LDAP directory (INTERFACE §13), for `serve` and `fixture`.
struct DirectoryOptions: ParsableArguments {
    @Option(name: .customLong("ldap-url"), help: "ldap://host:port or ldaps://host:port of the user directory (LINKGATE_LDAP_URL; default: none).")
    var url: String?

    @Option(name: .customLong("ldap-bind-dn"), help: "The service account that searches the directory (LINKGATE_LDAP_BIND_DN; its password in LINKGATE_LDAP_BIND_PASSWORD).")
    var bindDN: String?

    @Option(name: .customLong("ldap-base-dn"), help: "Where users are searched (LINKGATE_LDAP_BASE_DN).")
    var baseDN: String?

    @Option(name: .customLong("ldap-user-filter"), help: "Search filter; {0} is the login name, RFC 4515-escaped (LINKGATE_LDAP_USER_FILTER; default (uid={0})).")
    var userFilter: String?

    @Option(name: .customLong("ldap-attr-display-name"), help: "Display-name attribute (LINKGATE_LDAP_ATTR_DISPLAY_NAME; default cn).")
    var displayNameAttribute: String?

    @Option(name: .customLong("ldap-attr-email"), help: "E-mail attribute (LINKGATE_LDAP_ATTR_EMAIL; default mail).")
    var emailAttribute: String?

    @Option(name: .customLong("ldap-admin-group"), help: "DN of the group whose members are Linkgate admins (LINKGATE_LDAP_ADMIN_GROUP).")
    var adminGroup: String?

    @Option(name: .customLong("ldap-cache-ttl"), help: "Seconds a directory answer is used before asking again (LINKGATE_LDAP_CACHE_TTL; default 300).")
    var cacheTTL: Int?

    @Flag(name: .customLong("ldap-starttls"), help: "Upgrade ldap:// with StartTLS (LINKGATE_LDAP_STARTTLS=1).")
    var startTLS = false

    @Option(name: .customLong("ldap-ca-file"), help: "PEM file of the CAs that sign the directory's certificate (LINKGATE_LDAP_CA_FILE; default: the system CA store).")
    var caFile: String?

    /// Sets the server's directory and its cache lifetime from the options; nothing without `--ldap-url`.
    func configure(_ config: inout ServerConfig) throws {
        guard let url = url ?? environment("LINKGATE_LDAP_URL") else { return }
        guard let baseDN = baseDN ?? environment("LINKGATE_LDAP_BASE_DN") else {
            throw ValidationError("--ldap-base-dn is required with --ldap-url")
        }
        let ttl = try integerSetting(cacheTTL, env: "LINKGATE_LDAP_CACHE_TTL", default: 300, in: 0...86_400, "LDAP cache TTL",
                                     hint: ": give seconds from 0 to 86400")
        let configuration = LDAPConfiguration(
            url: url, bindDN: bindDN ?? environment("LINKGATE_LDAP_BIND_DN"), bindPassword: environment("LINKGATE_LDAP_BIND_PASSWORD") ?? "",
            baseDN: baseDN, userFilter: userFilter ?? environment("LINKGATE_LDAP_USER_FILTER") ?? LDAPConfiguration.defaultUserFilter,
            displayNameAttribute: displayNameAttribute ?? environment("LINKGATE_LDAP_ATTR_DISPLAY_NAME") ?? "cn",
            emailAttribute: emailAttribute ?? environment("LINKGATE_LDAP_ATTR_EMAIL") ?? "mail",
            adminGroupDN: adminGroup ?? environment("LINKGATE_LDAP_ADMIN_GROUP"),
            startTLS: startTLS || environment("LINKGATE_LDAP_STARTTLS") == "1", caFile: caFile ?? environment("LINKGATE_LDAP_CA_FILE"))
        do {
            config.directory = try LDAPDirectory(configuration: configuration)
        } catch {
            throw ValidationError("invalid LDAP settings: \(error.description)")
        }
        config.directoryCacheTTL = Int64(ttl)
    }

    /// Stops the directory's threads: no libldap call may still run when the process exits
    /// (its exit handlers would race it).
    static func shutdown(_ config: ServerConfig) async {
        await (config.directory as? LDAPDirectory)?.shutdown()
    }
}
