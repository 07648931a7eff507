// The roles, least to most.
import { type Role } from "../api";

/** Every role, from the one that sees least to the one that may do everything. */
export const ROLES: Role[] = ["viewer", "analyst", "operator", "admin"];
