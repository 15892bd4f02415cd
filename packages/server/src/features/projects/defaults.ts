import type { ConfigObject } from "@latchkey/contracts";

/**
 * The environment override a new project starts with. Schema defaults describe "unset"; a new project
 * is deliberately more useful than that: password sign-in on, localhost allowed, the two standard team
 * roles, and the Authentication and Emails apps enabled.
 */
export function newProjectEnvironmentOverride(): ConfigObject {
  return {
    "auth.password.allowSignIn": true,
    "domains.allowLocalhost": true,
    "rbac.permissions": {
      team_member: {
        description: "Default permission for team members",
        scope: "team",
        containedPermissionIds: { $read_members: true, $invite_members: true },
      },
      team_admin: {
        description: "Default permission for team admins",
        scope: "team",
        containedPermissionIds: {
          $update_team: true,
          $delete_team: true,
          $read_members: true,
          $remove_members: true,
          $invite_members: true,
          $manage_api_keys: true,
        },
      },
    },
    "rbac.defaultPermissions.teamCreator": { team_admin: true },
    "rbac.defaultPermissions.teamMember": { team_member: true },
    "apps.installed.authentication": { enabled: true },
    "apps.installed.emails": { enabled: true },
  };
}
